#!/usr/bin/env bash
# The layout rule of README's "Inside": folders are listed from the top
# down, and no folder under src/ includes a header of a folder listed above
# it (nor its own listing's folders in a circle); core/ includes none of
# ours; every folder is listed. Cases: listed, imports_downward.
set -u
cd "$(dirname "$0")/../.."

order=$(awk '/^## Inside/ { f = 1 } /^Signalling runs/ { f = 0 } f' \
	"${VG_README:-README.md}" | grep -oE '^src/[a-z]+/' | sed 's|src/||; s|/||')

declare -A pos
i=0
for d in $order; do
	pos[$d]=$i
	i=$((i + 1))
done

missing=
for d in src/*/; do
	d=$(basename "$d")
	[ -n "${pos[$d]+x}" ] || missing+=" $d"
done
if [ -n "$missing" ]; then
	echo "FAIL listed: folders not in README's Inside:$missing"
else
	echo "ok listed"
fi

bad=
for d in $order; do
	[ -d "src/$d" ] || continue
	for dep in $(grep -ho '#include "[a-z_]*/' src/"$d"/*.[ch] | sort -u |
		sed 's/#include "//; s|/||'); do
		[ "$dep" = "$d" ] && continue
		if [ -z "${pos[$dep]+x}" ]; then
			bad+=" $d->$dep(unlisted)"
		elif [ "${pos[$dep]}" -le "${pos[$d]}" ]; then
			bad+=" $d->$dep"
		fi
	done
done
if [ -n "$bad" ]; then
	echo "FAIL imports_downward: includes of a folder listed above:$bad"
	exit 1
fi
echo "ok imports_downward"
[ -z "$missing" ]
