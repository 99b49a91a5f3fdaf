// Package lifecycle is Berth's lifecycle-policy engine: it parses and
// validates policy documents in Amazon ECR's JSON grammar, and decides which
// images of a repository a policy expires. It is pure: it reads a list of
// images and a clock value and returns results; deleting the images, storing
// policies and running previews belong to package registry. It imports the
// standard library and go-digest only.
//
// # Grammar
//
// ParsePolicy accepts ECR's document:
//
//	{
//	  "rules": [
//	    {
//	      "rulePriority": 1,
//	      "description": "Keep the last 10 releases",
//	      "selection": {
//	        "tagStatus": "tagged" | "untagged" | "any",
//	        "tagPatternList": ["v*.*.*"],
//	        "tagPrefixList": ["release-"],
//	        "storageClass": "standard",
//	        "countType": "imageCountMoreThan" | "sinceImagePushed" | "sinceImagePulled",
//	        "countUnit": "days",
//	        "countNumber": 10
//	      },
//	      "action": {"type": "expire"}
//	    }
//	  ]
//	}
//
// and enforces ECR's rules and limits:
//
//   - the text is 100..30,720 characters; 1..50 rules;
//   - members are checked strictly: missing required members, members the
//     schema does not know, duplicate members, wrong JSON types (1.0 is not
//     an integer, null is not a string) and trailing data are errors;
//   - rulePriority and countNumber are integers from 1 to 2^31-1; priorities
//     are unique; a description holds at most 256 characters;
//   - tagStatus "tagged" needs a non-empty tagPrefixList or tagPatternList,
//     never both; "untagged" and "any" take neither (an empty list counts as
//     none); list entries are non-empty and a pattern holds at most four '*';
//   - a rule with tagStatus "any" has the highest rulePriority, so there is
//     at most one; at most one rule selects untagged images; no two tagged
//     rules have the same set of prefixes (or of patterns);
//   - countUnit "days" is required by sinceImagePushed and sinceImagePulled
//     and forbidden with imageCountMoreThan;
//   - action type is "expire".
//
// Errors are *PolicyError values that match ErrInvalidPolicy, carry the rule
// index, its priority and the offending field, and word the failure as ECR
// does where ECR's wording is known ("numeric instance is lower than the
// required minimum (minimum: 1, found: 0)", "Only one rule can select
// Untagged images per storage class."). PolicyError.ECRMessage renders the
// whole InvalidParameterException message. ECR's archive storage class is
// not implemented: "transition" actions, "storageClass": "archive" and
// "sinceImageTransitioned" are rejected with errors that also match
// ErrUnsupported.
//
// # Evaluation
//
// Evaluate follows ECR's "Lifecycle policy evaluation rules":
//
//  1. Every rule is evaluated on all images at once; the results are then
//     applied in priority order, lowest rulePriority first.
//  2. A rule selects images by their tags. "any" selects every image,
//     "untagged" those without tags. A "tagged" rule selects an image when
//     every entry of its list matches at least one of the image's tags: with
//     ["alpha", "beta"], an image tagged alpha-1 and beta-1 is selected, one
//     tagged only alpha-1 is not. A prefix matches tags starting with it; in a
//     pattern '*' matches any run of characters and the rest matches
//     literally, against the whole tag ("prod*" matches prod-1, "*prod*"
//     matches preprod-1, "prod" matches only prod).
//  3. A rule then marks some of the images it selects. imageCountMoreThan
//     orders them by push time, newest first, keeps countNumber and marks the
//     rest. sinceImagePushed marks images whose age, in whole days (complete
//     24-hour periods since the push), is greater than countNumber;
//     sinceImagePulled does the same from the last pull, or from the push for
//     an image never pulled.
//  4. An image is expired by at most one rule: the first rule, by priority,
//     that selects it. If that rule does not mark it, no rule expires it, so a
//     higher-priority rule shields the images it selects. Lower-priority rules
//     still see shielded images: an imageCountMoreThan rule counts them among
//     the images it keeps. (This is ECR's "rules can never mark images that
//     are marked by higher priority rules, but can still identify them as if
//     they haven't been expired"; ECR's "Filtering on all images" example B
//     depends on it.)
//
// Results are ordered by push time, oldest first, then by digest; push-time
// ties in imageCountMoreThan are broken by digest, so that results do not
// depend on the order of the input.
//
// # Image indexes and referrers
//
// An image index (an Image with Children) keeps its child manifests: a child
// is never expired while an index in the evaluated set that references it is
// kept, even if a rule marks it (ECR: "an image referenced by a manifest list
// cannot be expired before the manifest list is deleted"). Children are
// otherwise ordinary images: rules select, count and mark them. When every
// index referencing a child expires, the child expires too if a rule marks
// it, or, with the index (Result.Via names it), if it has no tags; a tagged
// child that no rule marks stays.
//
// A referrer (an Image whose Subject is in the evaluated set: a signature,
// SBOM or attestation) goes with its subject: rules neither select nor count
// it, and it expires exactly when its subject does, with the subject's rule
// priority and Result.Via set to the subject (ECR expires referrers after
// their subject). A referrer whose subject is not in the set is an ordinary
// image. The same holds along chains (a signature of an SBOM of an image)
// and through nested indexes. Images in a malformed reference cycle (an
// index that lists itself through others) are kept.
//
// Evaluate and Preview only read the Policy and the images, so one Policy
// may be evaluated by several goroutines at once.
//
// # Deviations from ECR and choices where ECR is silent
//
//   - sinceImagePulled may be used with "expire". ECR allows it only with
//     "transition" to its archive class, which Berth does not have; an image
//     never pulled counts from its push time.
//   - "Whole days": an image is older than N days when at least N+1 full
//     24-hour periods have passed since the reference time (age in whole days
//     greater than N), the reading under which ECR's examples hold (an image
//     pushed "1 day ago" is not older than one day). ECR acts within 24 hours
//     of that point; Berth's evaluation is exact for the time it is given.
//   - Referrers of an image in the set are not selected by rules (above). In
//     ECR they are images like any other, so that "keep the newest image" can
//     keep a signature and an untagged rule can delete the signature of a
//     kept image (aws/containers-roadmap#2613).
//   - ECR's "the set of rules must contain a unique set of tag prefixes" is
//     read as: no two tagged rules list the same set of prefixes (or of
//     patterns); overlapping sets such as ["prod"] and ["prod", "beta"] are
//     allowed.
//   - The 256-character description limit, duplicate-member rejection, and
//     the wording of messages ECR does not document (duplicate priorities,
//     "any" not last, both lists in one rule, more than four wildcards) are
//     Berth's.
//
// References (ECR User Guide, API version 2015-09-21):
// https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html,
// https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html,
// https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_examples.html.
package lifecycle
