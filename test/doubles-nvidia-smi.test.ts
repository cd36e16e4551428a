import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import fs from 'node:fs';
import {createRequire} from 'node:module';
import path from 'node:path';
import {describe, test} from 'node:test';
import {promisify} from 'node:util';
import {fileURLToPath} from 'node:url';
import {DOUBLES_BIN, doublesEnv, loadDefaultFleet, writeFleet} from './helpers/doubles.js';

const require = createRequire(import.meta.url);
const xml2js = require('xml2js') as {parseString(xml: string, options: object, callback: (error: Error | null, data: unknown) => void): void};
// Real captures, with provenance in test/fixtures/nvidia-smi/README.md.
const REAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/nvidia-smi');
const NVIDIA_SMI = path.join(DOUBLES_BIN, 'nvidia-smi');

type Result = {code: number; stdout: string; stderr: string};

async function smi(args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
	try {
		const {stdout, stderr} = await promisify(execFile)(NVIDIA_SMI, args, {env});
		return {code: 0, stdout, stderr};
	} catch (error) {
		const failure = error as {code: number; stdout: string; stderr: string};
		return {code: failure.code, stdout: failure.stdout, stderr: failure.stderr};
	}
}

// The options node-nvidia-smi uses.
async function parseXml(xml: string): Promise<Record<string, unknown>> {
	return new Promise((resolve, reject) => {
		xml2js.parseString(xml, {explicitArray: false, trim: true}, (error, data) => {
			if (error) {
				reject(error);
			} else {
				resolve(data as Record<string, unknown>);
			}
		});
	});
}

/** Every key path of a parsed document; arrays (repeated elements) are looked into without an index. */
function keyPaths(value: unknown, prefix = '', into = new Set<string>()): Set<string> {
	if (Array.isArray(value)) {
		for (const item of value) {
			keyPaths(item, prefix, into);
		}
	} else if (value && typeof value === 'object') {
		for (const [key, child] of Object.entries(value)) {
			const next = `${prefix}/${key}`;
			into.add(next);
			keyPaths(child, next, into);
		}
	}

	return into;
}

/** A state file as a running fake `ollama serve` writes it, with one model loaded on `gpu`. */
function writeInstanceState(env: NodeJS.ProcessEnv, gpu: string, runnerPid: number, vramMiB: number, busy: number): void {
	const dir = env['FAKE_STATE_DIR']!;
	fs.mkdirSync(dir, {recursive: true});
	fs.writeFileSync(path.join(dir, `ollama-${process.pid}.json`), JSON.stringify({
		pid: process.pid, port: 1, gpus: [gpu], numParallel: 2, capacity: 2, busySlots: busy, queued: 0,
		loaded: [{name: 'llama3.2:3b', state: 'ready', gpu, sizeVramMiB: vramMiB, runnerPid, busy}],
	}));
}

describe('fake nvidia-smi -q -x', () => {
	test('has the element structure of the real v13 capture, process_info as on a real busy H200', async () => {
		const env = doublesEnv({FAKE_GPU_COUNT: '2'});
		const fleet = loadDefaultFleet();
		writeInstanceState(env, fleet.gpus[0]!.uuid, process.pid, 2247, 1);
		const fake = await parseXml((await smi(['-q', '-x'], env)).stdout);
		const real = await parseXml(fs.readFileSync(path.join(REAL, 'qx__rtx-3080__1gpu__drv595.58.03__dtd-v13.xml'), 'utf8'));
		const withProcess = await parseXml(fs.readFileSync(path.join(REAL, 'real-device/qx-busy.xml'), 'utf8'));
		const realPaths = keyPaths(real);
		for (const processPath of [...keyPaths(withProcess)].filter(key => key.includes('/process_info'))) {
			realPaths.add(processPath);
		}

		assert.deepEqual([...keyPaths(fake)].sort(), [...realPaths].sort());
	});

	test('reports the fleet GPUs, live memory and the runner processes in the fields parsers read', async () => {
		const env = doublesEnv({FAKE_GPU_COUNT: '2'});
		const fleet = loadDefaultFleet();
		const gpu0 = fleet.gpus[0]!;
		writeInstanceState(env, gpu0.uuid, process.pid, 2247, 2);
		const {stdout} = await smi(['-q', '-x'], env);
		assert.match(stdout, /^<\?xml version="1.0" \?>\n<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v13.dtd">\n<nvidia_smi_log>\n/);
		const log = (await parseXml(stdout))['nvidia_smi_log'] as Record<string, any>;
		assert.equal(log['attached_gpus'], '2');
		assert.equal(log['driver_version'], fleet.driverVersion);
		const gpus = log['gpu'] as Array<Record<string, any>>;
		assert.equal(gpus.length, 2);
		assert.equal(gpus[0]!['$'].id, gpu0.pciBusId);
		assert.equal(gpus[0]!['product_name'], gpu0.name);
		assert.equal(gpus[0]!['uuid'], gpu0.uuid);
		assert.equal(gpus[0]!['fb_memory_usage'].total, `${gpu0.memoryTotalMiB} MiB`);
		assert.equal(gpus[0]!['fb_memory_usage'].used, `${(gpu0.baseUsedMiB ?? 0) + 2247} MiB`);
		assert.equal(gpus[1]!['fb_memory_usage'].used, `${fleet.gpus[1]!.baseUsedMiB} MiB`);
		assert.match(gpus[0]!['utilization'].gpu_util, /^\d+ %$/);
		assert.notEqual(gpus[0]!['utilization'].gpu_util, '0 %');
		assert.equal(gpus[1]!['utilization'].gpu_util, '0 %');
		assert.match(gpus[0]!['gpu_power_readings'].current_power_limit, /^\d+\.\d\d W$/);
		assert.equal(gpus[0]!['mig_mode'].current_mig, 'N/A');
		assert.deepEqual(gpus[0]!['processes'].process_info, {
			gpu_instance_id: 'N/A', compute_instance_id: 'N/A', pid: String(process.pid), type: 'C',
			process_name: path.join(DOUBLES_BIN, 'ollama'), used_memory: '2247 MiB',
		});
		// xml2js reads an empty <processes> of the real capture as whitespace too.
		assert.equal(String(gpus[1]!['processes']).trim(), '');
	});

	test('ignores state files of instances that are gone', async () => {
		const env = doublesEnv({FAKE_GPU_COUNT: '1'});
		const dir = env['FAKE_STATE_DIR']!;
		fs.mkdirSync(dir, {recursive: true});
		fs.writeFileSync(path.join(dir, 'ollama-999999999.json'), JSON.stringify({
			pid: 999_999_999, gpus: [loadDefaultFleet().gpus[0]!.uuid],
			loaded: [{gpu: loadDefaultFleet().gpus[0]!.uuid, sizeVramMiB: 5000, busy: 1}],
		}));
		const {stdout} = await smi(['--query-gpu=memory.used', '--format=csv,noheader,nounits'], env);
		assert.equal(stdout, `${loadDefaultFleet().gpus[0]!.baseUsedMiB}\n`);
	});
});

describe('fake nvidia-smi with a MIG-enabled GPU', () => {
	test('lists the MIG instances in -L and in the XML, and reports MIG mode', async () => {
		const fleet = loadDefaultFleet();
		fleet.gpus = [{name: 'NVIDIA A100-PCIE-40GB', uuid: 'GPU-aaaaaaaa-1111-2222-3333-444444444444', memoryTotalMiB: 40_960, tokensPerSecond: 150, mig: [{memoryTotalMiB: 20_096}, {memoryTotalMiB: 9984, gpuInstanceId: 9}]}];
		const env = doublesEnv(writeFleet(fleet));
		const list = (await smi(['-L'], env)).stdout.split('\n');
		assert.equal(list[0], 'GPU 0: NVIDIA A100-PCIE-40GB (UUID: GPU-aaaaaaaa-1111-2222-3333-444444444444)');
		assert.match(list[1]!, /^ {2}MIG \S+ +Device {2}0: \(UUID: MIG-[0-9a-f-]{36}\)$/);
		const gpu = ((await parseXml((await smi(['-q', '-x'], env)).stdout))['nvidia_smi_log'] as Record<string, any>)['gpu'];
		assert.equal(gpu.mig_mode.current_mig, 'Enabled');
		const devices = gpu.mig_devices.mig_device as Array<Record<string, any>>;
		assert.deepEqual(devices.map(device => [device['index'], device['gpu_instance_id'], device['compute_instance_id'], device['fb_memory_usage'].total]), [['0', '1', '0', '20096 MiB'], ['1', '9', '0', '9984 MiB']]);
		assert.equal((await smi(['--query-gpu=mig.mode.current', '--format=csv,noheader'], env)).stdout, 'Enabled\n');
	});
});

describe('fake nvidia-smi --query-gpu', () => {
	test('prints what a real H200 printed for the same query, up to the values', async () => {
		const real = fs.readFileSync(path.join(REAL, 'real-device/query-units.csv'), 'utf8');
		const [realHeader = '', realRow = ''] = real.trimEnd().split('\n');
		const fields = realHeader.split(', ').map(cell => cell.replace(/ \[.*\]$/, '')).join(',');
		const {stdout} = await smi([`--query-gpu=${fields}`, '--format=csv'], doublesEnv({FAKE_GPU_COUNT: '1'}));
		const [header, row = ''] = stdout.trimEnd().split('\n');
		assert.equal(header, realHeader);
		const shape = (line: string) => line.split(', ').map(cell => cell.replace(/[0-9a-f]/g, '9').replace(/9+/g, '9'));
		assert.deepEqual(shape(row), shape(realRow));
	});

	test('prints the requested fields in order with real header names and units', async () => {
		const env = doublesEnv({FAKE_GPU_COUNT: '2'});
		const fleet = loadDefaultFleet();
		const {code, stdout} = await smi(['--query-gpu=index,uuid,name,pci.bus_id,memory.used,memory.total,memory.free,utilization.gpu,utilization.memory,temperature.gpu,power.draw,power.limit,driver_version', '--format=csv'], env);
		assert.equal(code, 0);
		const [header, ...rows] = stdout.trimEnd().split('\n');
		assert.equal(header, 'index, uuid, name, pci.bus_id, memory.used [MiB], memory.total [MiB], memory.free [MiB], utilization.gpu [%], utilization.memory [%], temperature.gpu, power.draw [W], power.limit [W], driver_version');
		assert.equal(rows.length, 2);
		const cells = rows[1]!.split(', ');
		const gpu = fleet.gpus[1]!;
		assert.deepEqual(cells.slice(0, 4), ['1', gpu.uuid, gpu.name, gpu.pciBusId]);
		assert.equal(cells[4], `${gpu.baseUsedMiB} MiB`);
		assert.equal(cells[5], `${gpu.memoryTotalMiB} MiB`);
		assert.equal(cells[6], `${gpu.memoryTotalMiB - gpu.reservedMiB! - gpu.baseUsedMiB!} MiB`);
		assert.equal(cells[7], '0 %');
		assert.match(cells[9]!, /^\d+$/);
		assert.match(cells[10]!, /^\d+\.\d\d W$/);
		assert.equal(cells[11], `${gpu.powerLimitW!.toFixed(2)} W`);
		assert.equal(cells[12], fleet.driverVersion);
	});

	test('nounits drops units from values only; noheader drops the header; -i selects GPUs', async () => {
		const env = doublesEnv();
		const {stdout} = await smi(['--query-gpu=index,memory.total,power.limit', '--format=csv,nounits', '-i', '1,3'], env);
		const fleet = loadDefaultFleet();
		assert.equal(stdout, [
			'index, memory.total [MiB], power.limit [W]',
			`1, ${fleet.gpus[1]!.memoryTotalMiB}, ${fleet.gpus[1]!.powerLimitW!.toFixed(2)}`,
			`3, ${fleet.gpus[3]!.memoryTotalMiB}, ${fleet.gpus[3]!.powerLimitW!.toFixed(2)}`,
			'',
		].join('\n'));
		const noHeader = await smi(['--query-gpu=uuid', '--format=csv,noheader', `--id=${fleet.gpus[2]!.uuid}`], env);
		assert.equal(noHeader.stdout, `${fleet.gpus[2]!.uuid}\n`);
	});

	test('reads [N/A] for a field the GPU does not support', async () => {
		const fleet = loadDefaultFleet();
		fleet.gpus = [{...fleet.gpus[0]!, unsupported: ['power.draw']}];
		const env = doublesEnv(writeFleet(fleet));
		const {stdout} = await smi(['--query-gpu=power.draw,power.limit', '--format=csv,noheader'], env);
		assert.equal(stdout, `[N/A], ${fleet.gpus[0]!.powerLimitW!.toFixed(2)} W\n`);
	});

	test('rejects an unknown field with the real message and exit code 2', async () => {
		const {code, stdout} = await smi(['--query-gpu=index,bogus.field', '--format=csv'], doublesEnv());
		assert.equal(code, 2);
		assert.equal(stdout, 'Field "bogus.field" is not a valid field to query.\n\n');
	});

	test('-l loops, one block per interval, header once, until killed', async () => {
		const env = doublesEnv({FAKE_GPU_COUNT: '2', FAKE_NVIDIA_SMI_LOOP_MS: '50'});
		const child = execFile(NVIDIA_SMI, ['--query-gpu=index,memory.used', '--format=csv', '-l', '1'], {env});
		let output = '';
		child.stdout!.on('data', (chunk: string) => {
			output += chunk;
		});
		await new Promise<void>(resolve => {
			const check = setInterval(() => {
				if (output.split('\n').length > 7) {
					clearInterval(check);
					resolve();
				}
			}, 10);
		});
		const exited = new Promise(resolve => child.once('exit', resolve));
		child.kill('SIGTERM');
		await exited;
		const lines = output.trimEnd().split('\n');
		assert.equal(lines.filter(line => line.startsWith('index')).length, 1);
		assert.deepEqual(lines.slice(1, 7).map(line => line.split(', ')[0]), ['0', '1', '0', '1', '0', '1']);
	});
});

describe('fake nvidia-smi without GPUs and lists', () => {
	test('-L lists GPUs like the real one', async () => {
		const fleet = loadDefaultFleet();
		const {stdout} = await smi(['-L'], doublesEnv({FAKE_GPU_COUNT: '2'}));
		assert.equal(stdout, fleet.gpus.slice(0, 2).map((gpu, index) => `GPU ${index}: ${gpu.name} (UUID: ${gpu.uuid})\n`).join(''));
	});

	test('FAKE_GPU_COUNT beyond the fleet generates more GPUs with distinct UUIDs and bus ids', async () => {
		const {stdout} = await smi(['--query-gpu=index,uuid,pci.bus_id', '--format=csv,noheader'], doublesEnv({FAKE_GPU_COUNT: '6'}));
		const rows = stdout.trimEnd().split('\n').map(line => line.split(', '));
		assert.equal(rows.length, 6);
		assert.equal(new Set(rows.map(row => row[1])).size, 6);
		assert.equal(new Set(rows.map(row => row[2])).size, 6);
	});

	test('a box with the driver but no GPU says "No devices were found", exit 6', async () => {
		for (const env of [doublesEnv({FAKE_GPU_COUNT: '0'}), doublesEnv({FAKE_NVIDIA_SMI_MODE: 'no-devices'})]) {
			const result = await smi(['-q', '-x'], env);
			assert.equal(result.code, 6);
			assert.equal(result.stdout, 'No devices were found\n');
		}
	});

	test('a box without a loaded driver fails with exit 9', async () => {
		const result = await smi(['-L'], doublesEnv({FAKE_NVIDIA_SMI_MODE: 'no-driver'}));
		assert.equal(result.code, 9);
		assert.match(result.stdout, /^NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver\./);
	});

	test('node-nvidia-smi (which the product may use) parses the fake', async () => {
		const env = doublesEnv({FAKE_GPU_COUNT: '3'});
		const saved = {...process.env};
		Object.assign(process.env, env);
		try {
			const nvidiaSmi = require('node-nvidia-smi') as (callback: (error: unknown, data: any) => void) => void;
			const data = await new Promise<any>((resolve, reject) => {
				nvidiaSmi((error, result) => (error ? reject(error) : resolve(result)));
			});
			assert.equal(data.nvidia_smi_log.gpu.length, 3);
			assert.equal(data.nvidia_smi_log.gpu[2].product_name, loadDefaultFleet().gpus[2]!.name);
		} finally {
			for (const key of Object.keys(process.env)) {
				if (!(key in saved)) {
					delete process.env[key];
				}
			}

			Object.assign(process.env, saved);
		}
	});
});
