package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Strict decoding of the policy text. encoding/json's struct decoding
// silently accepts wrong shapes (null for a string, duplicate members, 1.0
// for an integer), so the document is walked member by member and every
// failure is reported in the JSON-schema wording ECR uses.

const notAPolicy = "Could not map policyString into LifecyclePolicy."

// member names, required and optional, per object.
var (
	policyRequired    = []string{"rules"}
	policyAllowed     = []string{"rules"}
	ruleRequired      = []string{"action", "rulePriority", "selection"}
	ruleAllowed       = []string{"action", "description", "rulePriority", "selection"}
	selectionRequired = []string{"countNumber", "countType", "tagStatus"}
	selectionAllowed  = []string{"countNumber", "countType", "countUnit", "storageClass", "tagPatternList", "tagPrefixList", "tagStatus"}
	actionRequired    = []string{"type"}
	actionAllowed     = []string{"targetStorageClass", "type"}
)

// errDuplicate reports a member that appears twice in one object.
type errDuplicate struct{ name string }

func (e errDuplicate) Error() string { return fmt.Sprintf("duplicate member %q", e.name) }

func decodePolicy(text []byte) (*Policy, error) {
	if !json.Valid(text) || jsonType(text) != "object" {
		return nil, docError("", notAPolicy)
	}
	obj, err := decodeObject(text)
	if err != nil {
		return nil, objectError(noRule, 0, "", err)
	}
	if detail := checkMembers(obj, policyRequired, policyAllowed); detail != "" {
		return nil, docError("", detail)
	}
	raw := obj["rules"]
	if t := jsonType(raw); t != "array" {
		return nil, docError("rules", typeDetail(t, "array"))
	}
	elems, err := decodeArray(raw)
	if err != nil {
		return nil, docError("rules", notAPolicy)
	}
	p := &Policy{Rules: make([]Rule, 0, len(elems))}
	for i, e := range elems {
		r, err := decodeRule(i, e)
		if err != nil {
			return nil, err
		}
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

func decodeRule(i int, raw json.RawMessage) (Rule, error) {
	var r Rule
	if t := jsonType(raw); t != "object" {
		return r, ruleError(i, 0, "", typeDetail(t, "object"))
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return r, objectError(i, 0, "", err)
	}
	// The priority first, so that later errors can name it.
	prio := 0
	if v, ok := obj["rulePriority"]; ok {
		n, detail := decodeInt(v)
		if detail != "" {
			return r, ruleError(i, 0, "rulePriority", detail)
		}
		prio = n
		r.RulePriority = n
	}
	if detail := checkMembers(obj, ruleRequired, ruleAllowed); detail != "" {
		return r, ruleError(i, prio, "", detail)
	}
	if v, ok := obj["description"]; ok {
		if r.Description, err = decodeString(v); err != nil {
			return r, ruleError(i, prio, "description", err.Error())
		}
	}
	if r.Selection, err = decodeSelection(i, prio, obj["selection"]); err != nil {
		return r, err
	}
	if r.Action, err = decodeAction(i, prio, obj["action"]); err != nil {
		return r, err
	}
	return r, nil
}

func decodeSelection(i, prio int, raw json.RawMessage) (Selection, error) {
	var s Selection
	if t := jsonType(raw); t != "object" {
		return s, ruleError(i, prio, "selection", typeDetail(t, "object"))
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return s, objectError(i, prio, "selection", err)
	}
	if detail := checkMembers(obj, selectionRequired, selectionAllowed); detail != "" {
		return s, ruleError(i, prio, "selection", detail)
	}
	str := func(name string) (string, error) {
		v, ok := obj[name]
		if !ok {
			return "", nil
		}
		out, err := decodeString(v)
		if err != nil {
			return "", ruleError(i, prio, "selection."+name, err.Error())
		}
		return out, nil
	}
	list := func(name string) ([]string, error) {
		v, ok := obj[name]
		if !ok {
			return nil, nil
		}
		if t := jsonType(v); t != "array" {
			return nil, ruleError(i, prio, "selection."+name, typeDetail(t, "array"))
		}
		elems, err := decodeArray(v)
		if err != nil {
			return nil, ruleError(i, prio, "selection."+name, notAPolicy)
		}
		if len(elems) == 0 {
			return nil, nil // an empty list is the same as none
		}
		out := make([]string, len(elems))
		for j, e := range elems {
			if out[j], err = decodeString(e); err != nil {
				return nil, ruleError(i, prio, fmt.Sprintf("selection.%s[%d]", name, j), err.Error())
			}
		}
		return out, nil
	}
	var v string
	if v, err = str("tagStatus"); err != nil {
		return s, err
	}
	s.TagStatus = TagStatus(v)
	if s.TagPatternList, err = list("tagPatternList"); err != nil {
		return s, err
	}
	if s.TagPrefixList, err = list("tagPrefixList"); err != nil {
		return s, err
	}
	if v, err = str("storageClass"); err != nil {
		return s, err
	}
	s.StorageClass = StorageClass(v)
	if v, err = str("countType"); err != nil {
		return s, err
	}
	s.CountType = CountType(v)
	if v, err = str("countUnit"); err != nil {
		return s, err
	}
	s.CountUnit = CountUnit(v)
	n, detail := decodeInt(obj["countNumber"])
	if detail != "" {
		return s, ruleError(i, prio, "selection.countNumber", detail)
	}
	s.CountNumber = n
	return s, nil
}

func decodeAction(i, prio int, raw json.RawMessage) (Action, error) {
	var a Action
	if t := jsonType(raw); t != "object" {
		return a, ruleError(i, prio, "action", typeDetail(t, "object"))
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return a, objectError(i, prio, "action", err)
	}
	if detail := checkMembers(obj, actionRequired, actionAllowed); detail != "" {
		return a, ruleError(i, prio, "action", detail)
	}
	v, err := decodeString(obj["type"])
	if err != nil {
		return a, ruleError(i, prio, "action.type", err.Error())
	}
	a.Type = ActionType(v)
	if raw, ok := obj["targetStorageClass"]; ok {
		v, err := decodeString(raw)
		if err != nil {
			return a, ruleError(i, prio, "action.targetStorageClass", err.Error())
		}
		a.TargetStorageClass = StorageClass(v)
	}
	return a, nil
}

// checkMembers reports missing required members, then members the schema
// does not allow, in ECR's wording.
func checkMembers(obj map[string]json.RawMessage, required, allowed []string) string {
	var missing, extra []string
	for _, name := range required {
		if _, ok := obj[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return "object has missing required properties (" + jsonList(missing) + ")"
	}
	for name := range obj {
		if !slices.Contains(allowed, name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return "object instance has properties which are not allowed by the schema: (" + jsonList(extra) + ")"
	}
	return ""
}

func objectError(rule, prio int, field string, err error) *PolicyError {
	var dup errDuplicate
	if errors.As(err, &dup) {
		return &PolicyError{Rule: rule, Priority: prio, Field: field,
			Detail: fmt.Sprintf("object has duplicate property %s", jsonList([]string{dup.name}))}
	}
	return &PolicyError{Rule: rule, Priority: prio, Field: field, Detail: notAPolicy}
}

// jsonList renders names as a JSON array, as ECR's messages do.
func jsonList(names []string) string {
	b, _ := json.Marshal(names)
	return string(b)
}

// jsonType names the JSON type of a valid JSON value as JSON schema does;
// numbers without fraction or exponent are "integer".
func jsonType(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "null"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	if bytes.ContainsAny(raw, ".eE") {
		return "number"
	}
	return "integer"
}

func typeDetail(got, want string) string {
	return fmt.Sprintf(`instance type (%s) does not match any allowed primitive type (allowed: ["%s"])`, got, want)
}

// decodeObject decodes a valid JSON object into its members, rejecting
// duplicate member names.
func decodeObject(raw []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, err
	}
	obj := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := obj[name]; dup {
			return nil, errDuplicate{name}
		}
		obj[name] = v
	}
	return obj, nil
}

func decodeArray(raw []byte) ([]json.RawMessage, error) {
	var out []json.RawMessage
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeString(raw json.RawMessage) (string, error) {
	if t := jsonType(raw); t != "string" {
		return "", errors.New(typeDetail(t, "string"))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errors.New(notAPolicy)
	}
	return s, nil
}

// decodeInt decodes a JSON integer in 1..MaxNumber; on failure it returns
// the detail of the error.
func decodeInt(raw json.RawMessage) (int, string) {
	if t := jsonType(raw); t != "integer" {
		return 0, typeDetail(t, "integer")
	}
	lit := strings.TrimSpace(string(raw))
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil || n < 1 || n > MaxNumber {
		// A range error from ParseInt: the literal's sign says which bound.
		return 0, rangeDetail(lit, err != nil && strings.HasPrefix(lit, "-") || err == nil && n < 1)
	}
	return int(n), ""
}
