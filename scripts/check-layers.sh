#!/usr/bin/env bash
# check-layers: the dependency rules of stages/ and runtime/ (STYLE.md,
# "Channels between stages"; stages/tcpsm/README.md, "Layers").
#
#   bash scripts/check-layers.sh [BUILD_DIR]     (default build; run make first)
#
# For runtime/ and every folder of stages/:
#   includes  the include graph of its files (gcc -MM on each .c and .h,
#             edges between files of the folder) has no cycle;
#   calls     the call graph between its object files (nm: object A uses a
#             symbol object B defines) has no cycle;
#   private   none of its files includes another stage's *-types.h or
#             internal header (*-int.h): other stages are seen through their
#             external headers only.
# For every folder of stages/ (STYLE.md: "the pipeline struct is not a
# mailbox"):
#   writes    no file assigns to a field of the pipeline (pl->..., also
#             through an atomic store or read-modify-write, or ++/--) nor
#             to the runtime's fields of a stage instance (done, draining,
#             holds, rings): those are set by the runtime at creation, and
#             a stage says its input ended with mp_stage_input_ended().
# (Between folders the runtime and the stages still call each other: the
# runtime finds stage types by symbol, stages call mp_out_send; not checked.)
# A cycle is printed with the files or objects in it. Ends with
# "layers: N passed, M failed"; exit 1 when something failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
B=${1:-build}
passed=0 failed=0
pass() { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
finish() {
	echo "layers: $passed passed, $failed failed"
	((failed == 0))
	exit $?
}

folders=(runtime)
for d in stages/*/; do folders+=("${d%/}"); done
INC=(-Iinclude -Iruntime)
for d in stages/*/; do INC+=("-I${d%/}"); done
# shellcheck disable=SC2207
PKG=($(pkg-config --cflags libdpdk liburcu-qsbr liburcu-cds libpcap libhs check 2>/dev/null))

if ! ls "$B"/runtime/*.o >/dev/null 2>&1; then
	fail "no objects in $B/runtime: run make first"
	finish
fi

W=$(mktemp -d /tmp/mp-layers.XXXXXX)
trap 'rm -rf "$W"' EXIT

# tsort on "a b" edges: prints the loop and returns 1 when there is one.
acyclic() { # edges-file what
	local out
	out=$(tsort <"$1" 2>&1 >/dev/null)
	if [[ -n $out ]]; then
		echo "$out" | grep -v 'input contains a loop' | sed "s/^tsort: /    $2 /"
		return 1
	fi
	return 0
}

# Where a quoted #include of file $1 resolves: its own folder first, then the
# -I folders in the Makefile's order (what the compiler does).
resolve() { # including-file name
	local dir
	dir=$(dirname "$1")
	if [[ -f $dir/$2 ]]; then
		echo "$dir/$2"
		return
	fi
	for i in "${INC[@]}"; do
		if [[ -f ${i#-I}/$2 ]]; then
			echo "${i#-I}/$2"
			return
		fi
	done
}

for f in "${folders[@]}"; do
	shopt -s nullglob
	files=("$f"/*.c "$f"/*.h)
	objs=("$B/$f"/*.o)
	shopt -u nullglob

	# includes: gcc -MM gives every file a file includes, directly or not; a
	# cycle among direct includes is a cycle among these closures too.
	: >"$W/inc"
	ok=1
	for src in "${files[@]}"; do
		# A generator header (counters-gen.h) is only meaningful inside the
		# file that defines its parameters: its includes are that file's.
		[[ $src == *-gen.h ]] && continue
		if ! deps=$(gcc -MM -MT x -x c "${INC[@]}" "${PKG[@]}" "$src" 2>"$W/err"); then
			fail "$f includes: gcc -MM $src: $(head -1 "$W/err")"
			ok=0
			continue
		fi
		for d in $(echo "$deps" | sed 's/\\$//; s/^x://'); do
			d=${d#./}
			[[ $d == "$f"/* && $d != "$src" && $d != *.def ]] && echo "$src $d" >>"$W/inc"
		done
	done
	if ((ok)); then
		if acyclic "$W/inc" "include cycle:"; then
			pass "$f includes: no cycle ($(wc -l <"$W/inc") edges)"
		else
			fail "$f includes: a cycle (above)"
		fi
	fi

	# calls: object A -> object B when A uses a global symbol B defines.
	: >"$W/calls"
	for o in "${objs[@]}"; do
		nm --defined-only -g "$o" | awk 'NF == 3 {print $3}' | sort -u >"$W/$(basename "$o").defs"
		nm -u "$o" | awk '{print $NF}' | sort -u >"$W/$(basename "$o").uses"
	done
	for a in "${objs[@]}"; do
		for b in "${objs[@]}"; do
			[[ $a == "$b" ]] && continue
			if comm -12 "$W/$(basename "$a").uses" "$W/$(basename "$b").defs" | grep -q .; then
				echo "$(basename "$a") $(basename "$b")" >>"$W/calls"
			fi
		done
	done
	rm -f "$W"/*.defs "$W"/*.uses
	if ((${#objs[@]} == 0)); then
		fail "$f calls: no objects in $B/$f (run make)"
	elif acyclic "$W/calls" "call cycle:"; then
		pass "$f calls: no cycle between its ${#objs[@]} objects ($(wc -l <"$W/calls") edges)"
	else
		fail "$f calls: a cycle (above)"
	fi

	# private: another stage's types or internal header included directly.
	bad=()
	for src in "${files[@]}"; do
		while read -r inc; do
			r=$(resolve "$src" "$inc")
			[[ -z $r ]] && continue
			case $r in
			stages/*) ;;
			*) continue ;;
			esac
			owner=${r#stages/}
			owner=${owner%%/*}
			[[ $f == "stages/$owner" ]] && continue
			case $(basename "$r") in
			*-types.h | *-int.h) bad+=("$src includes $r") ;;
			esac
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$src")
	done
	if ((${#bad[@]})); then
		printf '  %s\n' "${bad[@]}"
		fail "$f private: includes another stage's types or internal header (above)"
	else
		pass "$f private: only other stages' external headers"
	fi

	# writes: a stage writing the pipeline or the runner's part of an
	# instance. Comment lines are skipped; `==` is no assignment.
	[[ $f == stages/* ]] || continue
	lv='[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\]|->[A-Za-z_][A-Za-z0-9_]*|\.[A-Za-z_][A-Za-z0-9_]*)*'
	asg='[[:space:]]*(=[^=]|\+=|-=|\*=|/=|\|=|&=|\^=|<<=|>>=|\+\+|--)'
	runner='(done|draining|n_hold|hold|in|n_in|in_next|out|fb|n_fb_in|fb_in|fb_next|ctr|type|pl|idx|lcore|fanout_index)'
	hits=$(grep -nE "(^|[^A-Za-z0-9_])pl->$lv$asg|(\+\+|--)[[:space:]]*([A-Za-z_]+->)?pl->|__atomic_[a-z_]+\([[:space:]]*&[[:space:]]*([A-Za-z_]+->)?pl->|(^|[^A-Za-z0-9_])si->$runner(\[[^]]*\])*$asg|__atomic_(store|exchange|fetch_[a-z]+|[a-z]+_fetch|compare_exchange)(_n)?\([[:space:]]*&[[:space:]]*si->$runner" \
		"${files[@]}" 2>/dev/null | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)' |
		grep -vE '__atomic_load(_n)?\(' || true)
	if [[ -n $hits ]]; then
		echo "$hits" | sed 's/^/  /'
		fail "$f writes: assigns to the pipeline or to the runtime's fields of an instance (above)"
	else
		pass "$f writes: no pipeline field, no runtime field of an instance"
	fi
done

finish
