# Sourced by bin/cassandra, as Cassandra 5.0's conf/cassandra-env.sh: the heap, JMX and the extra
# options of the server's JVM. Result: JVM_OPTS.
#
# MAX_HEAP_SIZE / HEAP_NEWSIZE: unset, the heap is max(min(1/2 RAM, 1 GB), min(1/4 RAM, 8 GB)) of the
# machine's memory (not the container's limit, like the real script); set, MAX_HEAP_SIZE is -Xms and
# -Xmx. HEAP_NEWSIZE (-Xmn) only applies without G1, and the Java 17 options use G1.
# JVM_EXTRA_OPTS is appended last. JMX listens on 127.0.0.1:$JMX_PORT only (LOCAL_JMX=yes).

calculate_heap_sizes() {
  system_memory_in_mb=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
  half_system_memory_in_mb=$((system_memory_in_mb / 2))
  quarter_system_memory_in_mb=$((half_system_memory_in_mb / 2))
  [ "$half_system_memory_in_mb" -gt 1024 ] && half_system_memory_in_mb=1024
  [ "$quarter_system_memory_in_mb" -gt 8192 ] && quarter_system_memory_in_mb=8192
  if [ "$half_system_memory_in_mb" -gt "$quarter_system_memory_in_mb" ]; then
    max_heap_size_in_mb=$half_system_memory_in_mb
  else
    max_heap_size_in_mb=$quarter_system_memory_in_mb
  fi
  MAX_HEAP_SIZE="${max_heap_size_in_mb}M"
  system_cpu_cores=$(nproc)
  max_sensible_yg_per_core_in_mb=100
  max_sensible_yg_in_mb=$((max_sensible_yg_per_core_in_mb * system_cpu_cores))
  desired_yg_in_mb=$((max_heap_size_in_mb / 4))
  if [ "$desired_yg_in_mb" -gt "$max_sensible_yg_in_mb" ]; then
    HEAP_NEWSIZE="${max_sensible_yg_in_mb}M"
  else
    HEAP_NEWSIZE="${desired_yg_in_mb}M"
  fi
}

USING_G1=0
case " $JVM_OPTS " in *" -XX:+UseG1GC "*) USING_G1=1 ;; esac

if [ -z "${MAX_HEAP_SIZE:-}" ] && { [ -z "${HEAP_NEWSIZE:-}" ] || [ "$USING_G1" -eq 1 ]; }; then
  calculate_heap_sizes
elif [ -z "${MAX_HEAP_SIZE:-}" ] || { [ -z "${HEAP_NEWSIZE:-}" ] && [ "$USING_G1" -eq 0 ]; }; then
  echo "please set or unset MAX_HEAP_SIZE and HEAP_NEWSIZE in pairs when using CMS GC (see cassandra-env.sh)" >&2
  exit 1
fi

JVM_OPTS="$JVM_OPTS -Xms${MAX_HEAP_SIZE} -Xmx${MAX_HEAP_SIZE}"
if [ "$USING_G1" -eq 0 ]; then
  JVM_OPTS="$JVM_OPTS -Xmn${HEAP_NEWSIZE}"
fi
JVM_OPTS="$JVM_OPTS -XX:HeapDumpPath=${CASSANDRA_HEAPDUMP_DIR:-$cassandra_storagedir}"

JMX_PORT=${JMX_PORT:-7199}
LOCAL_JMX=${LOCAL_JMX:-yes}
if [ "$LOCAL_JMX" = "yes" ]; then
  JVM_OPTS="$JVM_OPTS -Dcassandra.jmx.local.port=$JMX_PORT"
else
  JVM_OPTS="$JVM_OPTS -Dcassandra.jmx.remote.port=$JMX_PORT -Dcom.sun.management.jmxremote.rmi.port=$JMX_PORT"
  JVM_OPTS="$JVM_OPTS -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false"
fi

# GC log (Java 11+ unified logging), in the log folder.
JVM_OPTS="$JVM_OPTS -Xlog:gc=info,heap*=debug,age*=debug,safepoint=info,promotion*=debug:file=${CASSANDRA_LOG_DIR}/gc.log:time,uptime,pid,tid,level:filecount=10,filesize=10485760"

JVM_OPTS="$JVM_OPTS ${JVM_EXTRA_OPTS:-}"
