#!/usr/bin/env bash
# Runs a ClickHouse server for tests and benchmarks, on loopback only, with everything in DIR:
#   scripts/clickhouse-server.sh DIR HTTP_PORT TCP_PORT [CLUSTER_XML]
# CLUSTER_XML, when given, is a file holding a <remote_servers> element (for Distributed
# tables). The server runs in the foreground (exec): the caller starts it in the background,
# waits for http://127.0.0.1:HTTP_PORT/ping, and ends it by its PID.
# Parts are compressed with zstd (the Debian package's default is lz4), as the README suggests
# for production.
set -euo pipefail
dir=$1 http=$2 tcp=$3 cluster=${4:-}
command -v clickhouse-server >/dev/null || { echo "clickhouse-server is not installed: run scripts/setup.sh --python" >&2; exit 1; }
mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
dir=$(cd "$dir" && pwd)
remote=""
[ -n "$cluster" ] && remote=$(cat "$cluster")
cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>$dir/server.log</log><errorlog>$dir/server.err.log</errorlog><size>100M</size><count>1</count></logger>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <interserver_http_port>0</interserver_http_port>
    <listen_host>127.0.0.1</listen_host>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <compression><case><method>zstd</method></case></compression>
    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
    $remote
</yandex>
XML
cat > "$dir/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage><load_balancing>random</load_balancing></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
cd "$dir"
if [ -n "${ARIADNE_WATCH_PID:-}" ]; then
    # Started by a test process: stop with it, even when it ends without cleaning up.
    clickhouse-server --config-file="$dir/config.xml" &
    server=$!
    # Foundation's Process starts children with signals blocked, which ClickHouse inherits and
    # never unblocks for SIGTERM: ask, then end it (its data is a test's, thrown away).
    stop() {
        kill $server 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 $server 2>/dev/null || return 0; sleep 0.5; done
        kill -9 $server 2>/dev/null
    }
    trap stop EXIT TERM INT
    while kill -0 "$ARIADNE_WATCH_PID" 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1; done
    exit 0
fi
exec clickhouse-server --config-file="$dir/config.xml"
