/** `tools/cassandra/nodetool ...`: Cassandra's nodetool for the project's own node (local JMX). */
import { spawnSync } from 'node:child_process';
import { nodetoolCommand } from './launcher';

const { command, args } = nodetoolCommand(process.argv.slice(2));
const run = spawnSync(command, args, { stdio: 'inherit' });
process.exit(run.status ?? 1);
