#!/usr/bin/env bash
# Runs every check Berth has, stage by stage, and ends with a line
#
#     N passed, N failed
#
# counting stages. Exits non-zero if any stage failed.
#
#   scripts/test.sh                 all stages
#   scripts/test.sh vet race        only the named stages
#
# Stages: gofmt vet test race examples bench conformance conformance_auth clients
#
# Needs Go on PATH. The conformance stage installs the OCI conformance suite
# with `go install` (module proxy) unless `conformance` is already on PATH
# or in $(go env GOPATH)/bin.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

CONFORMANCE_PKG=github.com/opencontainers/distribution-spec/conformance
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111

ALL_STAGES=(gofmt vet test race examples bench conformance conformance_auth clients)
if (($# > 0)); then
	STAGES=("$@")
else
	STAGES=("${ALL_STAGES[@]}")
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-test.XXXXXX")
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# Helpers for the stages that run the server binary.

# start_bin NAME LOGFILE ARGS... starts a binary from $WORK/bin in the
# background, waits for its "msg=listening addr=HOST:PORT" log line, and
# sets STARTED_PID and STARTED_ADDR.
start_bin() {
	local name=$1 logfile=$2
	shift 2
	: >"$logfile"
	"$WORK/bin/$name" "$@" 2>"$logfile" &
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
	STARTED_ADDR=
	local i
	for ((i = 0; i < 300; i++)); do
		STARTED_ADDR=$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$logfile" | head -n1)
		[[ -n $STARTED_ADDR ]] && return 0
		if ! kill -0 "$STARTED_PID" 2>/dev/null; then
			log "$name exited before listening:"
			cat "$logfile" >&2
			return 1
		fi
		sleep 0.1
	done
	log "$name did not start listening within 30s:"
	cat "$logfile" >&2
	return 1
}

# http_status ADDR PATH prints the HTTP status code of GET PATH, using bash's
# /dev/tcp so that no HTTP client needs to be installed.
http_status() {
	local host=${1%:*} port=${1##*:} path=$2 line
	exec 3<>"/dev/tcp/$host/$port" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$1" >&3
	IFS=' ' read -r _ line _ <&3
	exec 3<&- 3>&-
	printf '%s\n' "$line"
}

# expect_status ADDR PATH WANT
expect_status() {
	local got
	got=$(http_status "$1" "$2") || got="(connection failed)"
	if [[ $got != "$3" ]]; then
		log "GET $2 = $got, want $3"
		return 1
	fi
	log "GET $2 = $got"
}

# stop_bin PID LOGFILE sends SIGTERM and expects a clean exit within 30s.
stop_bin() {
	local pid=$1 logfile=$2 i rc
	kill -TERM "$pid"
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "process $pid ignored SIGTERM for 30s"
		kill -KILL "$pid"
		return 1
	fi
	wait "$pid"
	rc=$?
	if ((rc != 0)); then
		log "process exited with status $rc after SIGTERM:"
		cat "$logfile" >&2
		return 1
	fi
	if ! grep -q 'msg=stopped' "$logfile"; then
		log "no msg=stopped in the log after SIGTERM:"
		cat "$logfile" >&2
		return 1
	fi
}

build_examples() {
	[[ -x $WORK/bin/server && -x $WORK/bin/embed ]] && return 0
	mkdir -p "$WORK/bin"
	go build -o "$WORK/bin/" ./examples/server ./examples/embed
}

# ---------------------------------------------------------------------------
# Stages. Each is a function stage_NAME returning non-zero on failure.

stage_gofmt() {
	local out
	out=$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 gofmt -l)
	if [[ -n $out ]]; then
		log "not gofmt-ed:"
		log "$out"
		return 1
	fi
}

stage_vet() {
	go vet ./...
}

# Unit, integration and crash tests; the seed corpora of fuzz tests run as
# ordinary tests.
stage_test() {
	go test -count=1 -timeout 10m ./...
}

# The race detector slows everything down tenfold: -short skips the crash
# test and other long tests.
stage_race() {
	go test -count=1 -race -short -timeout 10m ./...
}

stage_examples() {
	build_examples || return 1
	local rc=0

	log "--- examples/server"
	start_bin server "$WORK/server.log" -addr 127.0.0.1:0 -data "$WORK/server-data" || return 1
	local pid=$STARTED_PID addr=$STARTED_ADDR
	log "listening on $addr"
	expect_status "$addr" /v2/ 200 || rc=1
	expect_status "$addr" /v2/smoke/test/tags/list 404 || rc=1
	stop_bin "$pid" "$WORK/server.log" || rc=1
	if ! grep -q "data=$WORK/server-data" "$WORK/server.log"; then
		log "server log does not say where the data lives"
		rc=1
	fi
	[[ -d $WORK/server-data ]] || { log "no data directory created"; rc=1; }

	log "--- examples/embed"
	start_bin embed "$WORK/embed.log" -addr 127.0.0.1:0 || return 1
	pid=$STARTED_PID addr=$STARTED_ADDR
	expect_status "$addr" /healthz 200 || rc=1
	expect_status "$addr" /hello 200 || rc=1
	expect_status "$addr" /v2/ 200 || rc=1
	stop_bin "$pid" "$WORK/embed.log" || rc=1
	return $rc
}

stage_bench() {
	if [[ ! -f bench/go.mod ]]; then
		log "bench/go.mod not present: nothing to run"
		return 0
	fi
	(cd bench && go run . -quick)
}

find_conformance() {
	local gobin
	gobin=$(go env GOBIN)
	[[ -z $gobin ]] && gobin=$(go env GOPATH)/bin
	if [[ -x $gobin/conformance ]]; then
		CONFORMANCE=$gobin/conformance
	elif command -v conformance >/dev/null; then
		CONFORMANCE=$(command -v conformance)
	else
		log "installing $CONFORMANCE_PKG@$CONFORMANCE_VERSION"
		(cd "$WORK" && GOFLAGS=-mod=mod go install "$CONFORMANCE_PKG@$CONFORMANCE_VERSION") || return 1
		CONFORMANCE=$gobin/conformance
	fi
	log "conformance: $CONFORMANCE"
}

stage_conformance() {
	run_conformance conformance
}

# The same suite against a server that requires authentication: static
# credentials over Basic auth and an IAM policy that allows that principal
# everything.
stage_conformance_auth() {
	mkdir -p "$WORK/auth"
	cat >"$WORK/auth/credentials.json" <<-'JSON'
	{"credentials": [{"accessKeyId": "BRTHCONFORMANCE00001", "secret": "conformance-secret-0123456789abcdef",
	  "principal": {"id": "conformance", "name": "conformance"}}]}
	JSON
	cat >"$WORK/auth/policies.json" <<-'JSON'
	{"identityPolicies": {"arn:aws:iam::000000000000:user/conformance": [
	  {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}]}}
	JSON
	OCI_USERNAME=BRTHCONFORMANCE00001 OCI_PASSWORD=conformance-secret-0123456789abcdef \
		run_conformance conformance-auth -credentials "$WORK/auth/credentials.json" -policies "$WORK/auth/policies.json"
}

# run_conformance NAME SERVER-ARGS... runs the OCI conformance suite against
# examples/server started with SERVER-ARGS.
run_conformance() {
	local name=$1
	shift
	find_conformance || return 1
	build_examples || return 1

	start_bin server "$WORK/$name-server.log" -addr 127.0.0.1:0 -data "$WORK/$name-data" "$@" || return 1
	local pid=$STARTED_PID addr=$STARTED_ADDR rc=0

	local envfile=$ROOT/httpapi/testdata/conformance.env
	mkdir -p "$WORK/$name"
	(
		cd "$WORK/$name" || exit 1
		if [[ -f $envfile ]]; then
			log "settings from httpapi/testdata/conformance.env"
			set -a
			# shellcheck disable=SC1090
			. "$envfile"
			set +a
		else
			log "httpapi/testdata/conformance.env not present: default settings"
			export OCI_TLS=disabled OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2
			export OCI_API_PULL=true OCI_API_PUSH=true OCI_API_BLOBS_ATOMIC=true \
				OCI_API_BLOBS_DELETE=true OCI_API_BLOBS_DIGEST_HEADER=true \
				OCI_API_BLOBS_MOUNT_ANONYMOUS=true OCI_API_BLOBS_UPLOAD_CANCEL=true \
				OCI_API_MANIFESTS_ATOMIC=true OCI_API_MANIFESTS_DELETE=true \
				OCI_API_MANIFESTS_DIGEST_HEADER=true OCI_API_MANIFESTS_TAG_PARAM=true \
				OCI_API_TAGS_ATOMIC=true OCI_API_TAGS_DELETE=true OCI_API_TAGS_LIST=true \
				OCI_API_REFERRER=true
			export OCI_DATA_IMAGE=true OCI_DATA_INDEX=true OCI_DATA_INDEX_LIST=true \
				OCI_DATA_SPARSE=false OCI_DATA_ARTIFACT=true OCI_DATA_SUBJECT=true \
				OCI_DATA_SUBJECT_MISSING=true OCI_DATA_ARTIFACT_LIST=true \
				OCI_DATA_SUBJECT_LIST=true OCI_DATA_DATA_FIELD=true \
				OCI_DATA_NONDISTRIBUTABLE=true OCI_DATA_CUSTOM_FIELDS=true \
				OCI_DATA_NO_LAYERS=true OCI_DATA_EMPTY_BLOB=true OCI_DATA_SHA512=true
		fi
		# These always come from here: the server and where results go.
		export OCI_REGISTRY=$addr OCI_TLS=disabled OCI_RESULTS_DIR=$WORK/$name/results
		"$CONFORMANCE"
	) >"$WORK/$name.out" 2>&1
	local status=$?

	stop_bin "$pid" "$WORK/$name-server.log" || rc=1

	# The report ends with one count per status, e.g. "  Pass.....:    412".
	local pass fail errs skip
	count() { sed -n "s/^  $1\.*: *\([0-9]*\)\$/\1/p" "$WORK/$name.out" | head -n1; }
	pass=$(count Pass) fail=$(count FAIL) errs=$(count Error) skip=$(count Skip)
	if [[ -z $pass || -z $fail ]]; then
		log "$name (exit status $status) printed no result counts:"
		cat "$WORK/$name.out" >&2
		return 1
	fi
	log "$name: ${pass} passed, ${fail} failed, ${errs:-0} errors, ${skip:-0} skipped"
	if ((fail + ${errs:-0} > 0 || pass == 0)); then
		# Show the failing tests and the API/data summary, not the whole
		# request log.
		grep -E 'FAIL|Error|^OCI Conformance Result' "$WORK/$name.out" | head -n 80 >&2
		sed -n '/^API conformance:/,$p' "$WORK/$name.out" >&2
		if [[ -n ${CONFORMANCE_KEEP:-} ]]; then
			mkdir -p "$CONFORMANCE_KEEP" && cp -r "$WORK/$name/results" "$WORK/$name.out" "$CONFORMANCE_KEEP/"
			log "results copied to $CONFORMANCE_KEEP"
		fi
		rc=1
	fi
	return $rc
}

# Client tools, pinned; installed with go install unless already on PATH.
CLIENT_TOOLS=(
	crane=github.com/google/go-containerregistry/cmd/crane@v0.22.1
	oras=oras.land/oras/cmd/oras@v1.3.6
	regctl=github.com/regclient/regclient/cmd/regctl@v0.11.7
)

stage_clients() {
	local gobin spec name
	gobin=$(go env GOBIN)
	[[ -z $gobin ]] && gobin=$(go env GOPATH)/bin
	export PATH="$PATH:$gobin"
	for spec in "${CLIENT_TOOLS[@]}"; do
		name=${spec%%=*}
		command -v "$name" >/dev/null && continue
		log "installing ${spec#*=}"
		(cd "$WORK" && GOFLAGS=-mod=mod go install "${spec#*=}") || return 1
	done
	if ! command -v skopeo >/dev/null && [[ ${CI:-} == true && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing skopeo from Debian"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo; } >"$WORK/apt.log" 2>&1 ||
			{ cat "$WORK/apt.log" >&2; return 1; }
	fi
	build_examples || return 1
	start_bin server "$WORK/clients-server.log" -addr 127.0.0.1:0 -data "$WORK/clients-data" || return 1
	local pid=$STARTED_PID rc=0
	"$ROOT/scripts/clients.sh" "$STARTED_ADDR" || rc=1
	stop_bin "$pid" "$WORK/clients-server.log" || rc=1
	return $rc
}

# ---------------------------------------------------------------------------

passed=0
failed=0
SUMMARY=()
for s in "${STAGES[@]}"; do
	if ! declare -F "stage_$s" >/dev/null; then
		log "unknown stage $s (stages: ${ALL_STAGES[*]})"
		exit 2
	fi
	log ""
	log "=== stage $s"
	start=$SECONDS
	if "stage_$s"; then
		result=PASS
		passed=$((passed + 1))
	else
		result=FAIL
		failed=$((failed + 1))
	fi
	secs=$((SECONDS - start))
	log "=== stage $s: $result (${secs}s)"
	SUMMARY+=("$(printf '%-4s %-12s %5ss' "$result" "$s" "$secs")")
done

log ""
log "Summary:"
for line in "${SUMMARY[@]}"; do
	log "  $line"
done
echo "$passed passed, $failed failed"
((failed == 0))
