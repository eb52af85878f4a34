#!/usr/bin/env bash
# examples/java/run.sh: compile and run the Java recipe with JUnit 5's console
# launcher, all from Debian (default-jdk-headless, libpostgresql-jdbc-java,
# junit5).  It connects to 127.0.0.1:$PGPORT (CAPQ_TCP_HOST to change the
# host) as $PGUSER, database $PGDATABASE, with capquery created there.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JARS=/usr/share/java
OUT=$(mktemp -d /tmp/capq-java.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
CP=$JARS/postgresql.jar:$JARS/junit-jupiter-api.jar:$JARS/apiguardian-api.jar:$JARS/opentest4j.jar
javac -d "$OUT" -cp "$CP" "$HERE"/*.java
exec java -jar "$JARS/junit-platform-console-standalone.jar" --disable-banner --disable-ansi-colors --details=tree \
  --class-path "$OUT:$CP" --select-class AlarmRecipeTest "$@"
