/** The three-node cluster's configuration, without starting it (cluster.test.ts and scaling.test.ts start it). */
import test from 'ava';
import { clusterTokens, nodeAddress, nodetoolCommand, parseNodetoolStatus, renderConfig } from '../launcher';

test('node N listens on 127.0.0.N, joins through the seed on the shared storage port, and gets an evenly spread token', (t) => {
  const yaml = renderConfig('/tmp/n2', 39042, { initial_token: clusterTokens(3)[1], auto_bootstrap: false }, process.env, { address: nodeAddress(2), seed: nodeAddress(1) });
  t.regex(yaml, /^listen_address: 127\.0\.0\.2$/m);
  t.regex(yaml, /^rpc_address: 127\.0\.0\.2$/m);
  t.regex(yaml, /seeds: "127\.0\.0\.1:39052"/);
  t.regex(yaml, /^native_transport_port: 39042$/m);
  t.regex(yaml, /^initial_token: "-3074457345618258603"$/m);
  t.regex(yaml, /^auto_bootstrap: false$/m);
  t.deepEqual(clusterTokens(3), ['-9223372036854775808', '-3074457345618258603', '3074457345618258602']);
  // A single node keeps its old configuration.
  t.regex(renderConfig('/tmp/n1', 9042), /seeds: "127\.0\.0\.1:9052"[\s\S]*listen_address: 127\.0\.0\.1/);
});

test('nodetool status is read per node; nodetool of node N is its own JMX port', (t) => {
  const output = `Datacenter: datacenter1
=======================
Status=Up/Down
|/ State=Normal/Leaving/Joining/Moving
--  Address    Load        Tokens  Owns (effective)  Host ID                               Rack
UN  127.0.0.2  114.39 KiB  1       100.0%            40767c59-b37c-421a-81a4-68e749755102  rack1
DN  127.0.0.3  114.34 KiB  1       100.0%            77ff5b51-4e99-44f9-9b7d-ae28e717c26f  rack1
UJ  127.0.0.1  79.81 KiB   1       100.0%            2cb2fedc-8ca7-4b05-bc50-9fecc588db89  rack1
`;
  t.deepEqual(parseNodetoolStatus(output), [
    { state: 'UN', address: '127.0.0.2' },
    { state: 'DN', address: '127.0.0.3' },
    { state: 'UJ', address: '127.0.0.1' },
  ]);
  const { args } = nodetoolCommand(['status'], 7201);
  t.deepEqual(args.slice(args.indexOf('-p'), args.indexOf('-p') + 3), ['-p', '7201', 'status']);
});
