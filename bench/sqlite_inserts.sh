#!/usr/bin/env bash
# sqlite_inserts.sh: write memopt's insert-heavy SQL benchmark script.
#
# Usage: bench/sqlite_inserts.sh OUTPUT.sql [ROWS]
#
# The script creates two indexed tables, inserts ROWS rows (default 200000)
# into the first one inside a single transaction, one INSERT statement per
# row so that sqlite3 parses and prepares every statement (the allocation-
# heavy part), adds a second index and ends with a few aggregate queries.
# The output is deterministic: the row contents come from a fixed
# Park-Miller generator, not from awk's rand().
#
# The workload is then: sqlite3 DB < OUTPUT.sql
set -euo pipefail

usage() {
	echo "usage: $0 OUTPUT.sql [ROWS]" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
out=$1
rows=${2:-200000}
case $rows in
'' | *[!0-9]*) usage ;;
esac

awk -v rows="$rows" '
function next_rand() {
	# Park-Miller minimal standard generator; every product stays below
	# 2^53, so awk doubles compute it exactly on every implementation.
	seed = (seed * 16807) % 2147483647
	return seed
}
function word(   w) {
	w = words[1 + next_rand() % nwords]
	return w
}
BEGIN {
	seed = 20240601
	nwords = split("alpha bravo charlie delta echo foxtrot golf hotel " \
	    "india juliet kilo lima mike november oscar papa quebec romeo " \
	    "sierra tango uniform victor whiskey xray yankee zulu memory " \
	    "profiler heap stack trace record report allocation free", words)
	print "PRAGMA journal_mode = MEMORY;"
	print "PRAGMA synchronous = OFF;"
	print "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
	print "    category INTEGER NOT NULL, price REAL NOT NULL,"
	print "    description TEXT NOT NULL);"
	print "CREATE TABLE tags (item_id INTEGER NOT NULL, tag TEXT NOT NULL);"
	print "CREATE INDEX items_name ON items(name);"
	print "CREATE INDEX tags_tag ON tags(tag, item_id);"
	print "BEGIN;"
	for (i = 1; i <= rows; i++) {
		name = word() "_" word() "_" i
		category = next_rand() % 97
		price = (next_rand() % 100000) / 100
		nw = 3 + next_rand() % 12
		descr = word()
		for (k = 1; k < nw; k++)
			descr = descr " " word()
		printf "INSERT INTO items VALUES(%d, '\''%s'\'', %d, %.2f, '\''%s'\'');\n",
		    i, name, category, price, descr
		if (i % 4 == 0)
			printf "INSERT INTO tags VALUES(%d, '\''%s'\'');\n", i, word()
	}
	print "COMMIT;"
	print "CREATE INDEX items_category ON items(category, price);"
	print "SELECT count(*), sum(price), avg(length(description)) FROM items;"
	print "SELECT category, count(*), round(avg(price), 2) FROM items"
	print "    GROUP BY category ORDER BY count(*) DESC LIMIT 5;"
	print "SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY 2 DESC, 1 LIMIT 5;"
	print "SELECT count(DISTINCT substr(name, 1, instr(name, '\''_'\'') - 1)) FROM items;"
	print "SELECT i.category, count(*) FROM items i JOIN tags t ON t.item_id = i.id"
	print "    WHERE t.tag = '\''heap'\'' GROUP BY i.category ORDER BY 2 DESC, 1 LIMIT 3;"
}' >"$out"
