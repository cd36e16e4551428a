import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {after, describe, it} from 'node:test';
import {DOUBLES_BIN, doublesEnv} from './helpers/doubles.js';

/** `ollama-multi gpus`, `--help`, `--version` and flag checking, run for real over the fake nvidia-smi. */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = path.join(repoRoot, 'source', 'cli.tsx');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-cli-gpus-'));
after(() => {
	rmSync(scratch, {recursive: true, force: true});
});

type Run = {code: number; stdout: string; stderr: string};

async function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
	return new Promise(resolve => {
		execFile(file, args, {cwd: repoRoot, env}, (error, stdout, stderr) => {
			resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr});
		});
	});
}

async function cli(args: string[], env: NodeJS.ProcessEnv = doublesEnv()): Promise<Run> {
	return run(process.execPath, ['--import', 'tsx', cliPath, ...args], env);
}

/** A PATH with node and ollama but no nvidia-smi. */
function pathWithoutNvidiaSmi(): string {
	const bin = mkdtempSync(path.join(scratch, 'bin-'));
	symlinkSync(process.execPath, path.join(bin, 'node'));
	symlinkSync(path.join(DOUBLES_BIN, 'ollama'), path.join(bin, 'ollama'));
	return bin;
}

// Independent runs of a short-lived command: run them side by side.
describe('ollama-multi gpus', {concurrency: true}, () => {
	it('--json lists what nvidia-smi reports: index, uuid, name, memory in MiB', async () => {
		const env = doublesEnv({FAKE_GPU_COUNT: '3'});
		const [result, reference] = await Promise.all([
			cli(['gpus', '--json'], env),
			run(path.join(DOUBLES_BIN, 'nvidia-smi'), ['--query-gpu=index,uuid,name,memory.total,memory.used', '--format=csv,noheader,nounits'], env),
		]);

		assert.equal(result.code, 0, result.stderr);
		const listed = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
		const expected = reference.stdout.trim().split('\n').map(line => {
			const [index, uuid, name, total, used] = line.split(', ');
			return {index: Number(index), uuid, name, memoryTotalMiB: Number(total), memoryUsedMiB: Number(used)};
		});
		assert.equal(expected.length, 3);
		assert.deepEqual(listed.map(({index, uuid, name, memoryTotalMiB, memoryUsedMiB}) => ({index, uuid, name, memoryTotalMiB, memoryUsedMiB})), expected);
	});

	it('--json writes null where nvidia-smi says N/A', async () => {
		const fleet = JSON.parse(readFileSync(path.join(DOUBLES_BIN, '..', 'fleet.default.json'), 'utf8')) as {gpus: Array<Record<string, unknown>>};
		fleet.gpus = [{...fleet.gpus[0], unsupported: ['power.draw', 'temperature.gpu']}];
		const fleetFile = path.join(scratch, 'fleet-na.json');
		writeFileSync(fleetFile, JSON.stringify(fleet));

		const result = await cli(['gpus', '--json'], doublesEnv({FAKE_FLEET: fleetFile}));

		assert.equal(result.code, 0, result.stderr);
		const [gpu] = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
		assert.equal(gpu!['powerDrawW'], null);
		assert.equal(gpu!['temperatureC'], null);
		assert.equal(typeof gpu!['memoryTotalMiB'], 'number');
	});

	it('prints a table a person can read', async () => {
		const result = await cli(['gpus'], doublesEnv({FAKE_GPU_COUNT: '2'}));

		assert.equal(result.code, 0, result.stderr);
		const [header, first, second] = result.stdout.split('\n');
		assert.match(header!, /^INDEX\s+NAME\s+UUID\s+MEMORY USED/);
		assert.match(first!, /^0\s+NVIDIA GeForce RTX 4090\s+GPU-e2453eca-caf9-14b7-5a37-537e81d4f270\s+4 \/ 24564 MiB/);
		assert.match(second!, /^1\s+NVIDIA GeForce RTX 3090\s+GPU-ba773f1f/);
		assert.match(result.stdout, /driver 570\.133\.07, CUDA 12\.8/);
	});

	it('--gpus 0+1,2 lists the GPUs by instance, a group with its total memory; a GPU in two groups is refused', async () => {
		const env = doublesEnv({FAKE_GPU_COUNT: '3'});
		const table = await cli(['gpus', '--gpus', '0+1,2'], env);
		assert.equal(table.code, 0, table.stderr);
		const lines = table.stdout.trim().split('\n');
		assert.match(lines[0]!, /^INSTANCE +INDEX +NAME/);
		assert.match(lines[1]!, /^gpu0\+1 +0 +NVIDIA GeForce RTX 4090/);
		assert.match(lines[2]!, /^ +1 +NVIDIA GeForce RTX 3090/);
		assert.match(lines[3]!, /2 GPUs, one instance +\d+ \/ 49140 MiB/);
		assert.match(lines[4]!, /^gpu2 +2 +NVIDIA RTX A4000/);
		const json = JSON.parse((await cli(['gpus', '--gpus', '0+1,2', '--json'], env)).stdout) as Array<{instance: string; gpus: Array<{index: number}>; memoryTotalMiB: number}>;
		assert.deepEqual(json.map(group => [group.instance, group.gpus.map(gpu => gpu.index), group.memoryTotalMiB]), [['gpu0+1', [0, 1], 49_140], ['gpu2', [2], 16_376]]);
		const refused = await cli(['gpus', '--gpus', '0+1,1'], env);
		assert.equal(refused.code, 2);
		assert.equal(refused.stderr, 'ollama-multi: --gpus puts GPU 1 in two instances ("0+1" and "1"); a GPU serves one instance only.\n');
	});

	it('without nvidia-smi: prints [] for scripts, says why on stderr, exits 0', async () => {
		const result = await cli(['gpus', '--json'], doublesEnv({PATH: pathWithoutNvidiaSmi()}));

		assert.equal(result.code, 0);
		assert.deepEqual(JSON.parse(result.stdout), []);
		assert.match(result.stderr, /nvidia-smi is not on PATH/);
	});

	it('when nvidia-smi cannot reach the driver: says so and exits 1', async () => {
		const result = await cli(['gpus'], doublesEnv({FAKE_NVIDIA_SMI_MODE: 'no-driver'}));

		assert.equal(result.code, 1);
		assert.equal(result.stdout, '');
		assert.match(result.stderr, /cannot talk to the NVIDIA driver/);
	});
});

describe('ollama-multi command line', {concurrency: true}, () => {
	it('--help documents every command and flag', async () => {
		const result = await cli(['--help']);

		assert.equal(result.code, 0);
		for (const word of ['up', 'gpus', 'status', 'drain <gpu>', 'undrain <gpu>', 'restart <gpu|all>', 'logs <gpu>', '--port', '--host', '--base-port', '--gpus', '--instances', '--ollama', '--parallel', '--max-queue', '--strategy', '--no-ui', '--readonly', '--token', '--api-key', '--log-format', '--state-dir', '--json', '--follow', '--version']) {
			assert.ok(result.stdout.includes(word), `help mentions ${word}`);
		}
	});

	it('with no command prints the help', async () => {
		const result = await cli([]);
		assert.equal(result.code, 0);
		assert.match(result.stdout, /Usage\s+\$ ollama-multi <command>/);
	});

	it('--version prints the package version', async () => {
		const {version} = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {version: string};
		const result = await cli(['--version']);
		assert.equal(result.stdout.trim(), version);
	});

	it('rejects bad flag values with a message naming the flag, before anything runs', async () => {
		const cases: Array<[string[], RegExp]> = [
			[['up', '--port', '70000'], /--port 70000: not a port number; use a whole number from 1 to 65535/],
			[['up', '--strategy', 'quickest'], /--strategy quickest: unknown; use one of fastest, least-busy, round-robin/],
			[['up', '--parallel', '0'], /--parallel 0: use a whole number of at least 1/],
			[['up', '--log-format', 'xml'], /--log-format xml: unknown; use one of text, json/],
			[['launch'], /Unknown command "launch"/],
			[['up', '--bogus-flag'], /unknown flag --bogus-flag\./],
			[['up', '--base-prot', '3'], /unknown flag --base-prot \(did you mean --base-port\?\)/],
			[['status', '-z'], /unknown flag -z\./],
		];
		const results = await Promise.all(cases.map(async ([args]) => cli(args)));
		for (const [index, [args, message]] of cases.entries()) {
			const {code, stderr} = results[index]!;
			assert.equal(code, 2, args.join(' '));
			assert.match(stderr, message);
			// One line, in the same form for every bad flag, pointing at the help.
			assert.match(stderr, /^ollama-multi: [^\n]*--help[^\n]*\n$/, `${args.join(' ')}: ${stderr}`);
		}
	});

	it('takes --no-<flag> and a value that starts with a dash as known', async () => {
		const result = await cli(['gpus', '--no-json', '--token', '-secret']);
		assert.doesNotMatch(result.stderr, /unknown flag/);
	});

	it('refuses a --base-port that puts an instance on the endpoint port', async () => {
		const result = await cli(['up', '--no-ui', '--port', '30001', '--base-port', '30000', '--state-dir', mkdtempSync(path.join(scratch, 'state-'))], doublesEnv({FAKE_GPU_COUNT: '2'}));
		assert.equal(result.code, 1);
		assert.match(result.stderr, /--base-port 30000 gives gpu1 port 30001, the port of the endpoint itself/);
	});
});
