import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {describe, test} from 'node:test';
import {parseProcStat, parseProcStatus} from '../bench/proc-stats.js';
import {replaceGenerated} from '../bench/results-file.js';
import {parseWrk, postScript} from '../bench/wrk.js';

const wrkOutput = `Running 5s test @ http://127.0.0.1:40123/api/version
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms  830.21us  20.79ms   93.10%
    Req/Sec    17.94k     1.21k   19.80k    78.00%
  Latency Distribution
     50%  812.00us
     75%    1.61ms
     90%    2.20ms
     99%    1.05s
  89254 requests in 5.00s, 12.34MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  17849.12
Transfer/sec:      2.47MB
`;

describe('bench: reading wrk and /proc', () => {
	test('wrk --latency: rate, count, p50 and p99 in ms whatever the unit, errors summed', () => {
		assert.deepEqual(parseWrk(wrkOutput), {requests: 89_254, seconds: 5, requestsPerSecond: 17_849.12, p50Ms: 0.812, p99Ms: 1050, errors: 7});
		assert.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused'), /unreadable wrk report/);
	});

	test('the POST script sends the body as one Lua string', () => {
		const script = postScript('{"model":"m","prompt":"say \\"hi\\""}');
		assert.match(script, /^wrk\.method = "POST"$/m);
		assert.match(script, /^wrk\.body = "\{\\"model\\":\\"m\\",\\"prompt\\":\\"say \\\\\\"hi\\\\\\"\\"\}"$/m);
	});

	test('/proc/PID/stat: utime and stime even when the command name has spaces and parentheses', () => {
		const line = '4242 (node (bench) x) S 1 4242 4242 0 -1 4194304 2000 0 0 0 1234 567 0 0 20 0 11 0 5000 1000000 20000 18446744073709551615';
		assert.deepEqual(parseProcStat(line), {utimeTicks: 1234, stimeTicks: 567});
		// This process's own line reads too.
		const own = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
		assert.ok(own.utimeTicks >= 0 && own.stimeTicks >= 0);
	});

	test('/proc/PID/status: current and peak resident memory', () => {
		assert.deepEqual(parseProcStatus('Name:\tnode\nVmHWM:\t  123456 kB\nVmRSS:\t   99999 kB\n'), {rssKiB: 99_999, peakRssKiB: 123_456});
		assert.throws(() => parseProcStatus('Name:\tkthreadd\n'), /no VmRSS/);
	});
});

describe('bench: RESULTS.md generated blocks', () => {
	const text = 'intro\n<!-- bench:routing:start -->\nold routing\n<!-- bench:routing:end -->\nmiddle\n<!-- bench:overhead:start -->\nold\n<!-- bench:overhead:end -->\nend\n';

	test('replaces one block and keeps the hand-written text and the other blocks', () => {
		const replaced = replaceGenerated(text, 'routing', 'new table\n');
		assert.equal(replaced, 'intro\n<!-- bench:routing:start -->\nnew table\n<!-- bench:routing:end -->\nmiddle\n<!-- bench:overhead:start -->\nold\n<!-- bench:overhead:end -->\nend\n');
	});

	test('a missing block is an error rather than a silently unchanged file', () => {
		assert.throws(() => replaceGenerated(text, 'footprint', 'x'), /no <!-- bench:footprint:start -->/);
	});

	test('bench/RESULTS.md has a block for each section the bench writes', () => {
		const results = readFileSync(new URL('../bench/RESULTS.md', import.meta.url), 'utf8');
		for (const name of ['routing', 'overhead', 'footprint']) {
			assert.doesNotThrow(() => replaceGenerated(results, name, 'x'), name);
		}
	});
});
