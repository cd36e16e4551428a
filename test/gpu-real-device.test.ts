import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {after, describe, it} from 'node:test';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import type {Gpu} from '../source/gpu/gpu.js';
import {inventoryWarnings, normalizeInventory} from '../source/gpu/normalize-inventory.js';
import {parseInventoryXml} from '../source/gpu/nvidia-smi.js';
import {parseQueryLine, queryGpuFields} from '../source/gpu/parse-query-line.js';
import {doublesEnv} from './helpers/doubles.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const realDevice = path.join(root, 'test', 'fixtures', 'nvidia-smi', 'real-device');
const captureScript = path.join(root, 'scripts', 'capture-nvidia-smi.sh');

/** real-device/ itself and each folder in it hold one machine's captures. */
function captureFolders(): string[] {
	if (!existsSync(realDevice)) {
		return [];
	}

	const folders = readdirSync(realDevice).map(name => path.join(realDevice, name)).filter(entry => statSync(entry).isDirectory());
	return [realDevice, ...folders].filter(folder => readdirSync(folder).some(name => name.endsWith('.xml')));
}

type CheckedCapture = {gpus: Gpu[]; checkedFiles: string[]};

/** Checks one capture folder the way a user's machine would exercise the parsers; returns what it checked. */
async function checkCaptureFolder(folder: string): Promise<CheckedCapture> {
	const files = readdirSync(folder);
	const checkedFiles: string[] = [];
	const read = (name: string) => readFileSync(path.join(folder, name), 'utf8');
	let inventory: Gpu[] | undefined;

	for (const name of files.filter(file => file.endsWith('.xml')).sort()) {
		const document = await parseInventoryXml(read(name));
		const gpus = normalizeInventory(document);
		assert.ok(gpus.length > 0, `${name}: no GPU`);
		for (const gpu of gpus) {
			assert.match(gpu.uuid, /^GPU-[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i, `${name}: GPU ${gpu.index} UUID`);
			assert.ok(gpu.name.length > 0, `${name}: GPU ${gpu.index} name`);
			assert.ok((gpu.memoryTotalMiB ?? 0) > 0, `${name}: GPU ${gpu.index} memory total`);
			assert.ok(gpu.memoryUsedMiB === null || gpu.memoryUsedMiB <= (gpu.memoryTotalMiB ?? 0), `${name}: GPU ${gpu.index} memory used`);
			assert.match(gpu.driverVersion ?? '', /^\d+\.\d+/, `${name}: driver version`);
			assert.match(gpu.pciBusId ?? '', /^[\dA-F]{8}:[\dA-F]{2}:[\dA-F]{2}\.[\dA-F]$/i, `${name}: PCI bus id`);
		}

		assert.deepEqual(gpus.map(gpu => gpu.index), gpus.map((_, index) => index));
		assert.deepEqual(inventoryWarnings(document, gpus).filter(warning => !/MIG mode/.test(warning)), [], `${name}: warnings`);
		if (inventory) {
			assert.deepEqual(gpus.map(gpu => gpu.uuid), inventory.map(gpu => gpu.uuid), `${name}: same GPUs as the other capture`);
		}

		inventory ??= gpus;
		checkedFiles.push(name);
	}

	assert.ok(inventory, `${folder}: no -q -x capture`);
	const byIndex = new Map(inventory.map(gpu => [gpu.index, gpu]));

	if (files.includes('list-gpus.txt')) {
		const listed = read('list-gpus.txt').split('\n').flatMap(line => {
			const match = /^GPU (\d+): (.+) \(UUID: (GPU-[^)]+)\)$/.exec(line.trim());
			return match ? [[Number(match[1]), match[2], match[3]]] : [];
		});
		assert.deepEqual(listed, inventory.map(gpu => [gpu.index, gpu.name, gpu.uuid]), 'nvidia-smi -L agrees with -q -x');
		checkedFiles.push('list-gpus.txt');
	}

	for (const name of ['query-nounits.csv', 'query-once.csv', 'query-lms.csv', 'query-units.csv'].filter(file => files.includes(file))) {
		let lines = read(name).split('\n').filter(line => line.trim() !== '');
		if (name === 'query-units.csv') {
			const header = lines[0]?.split(',').map(column => column.trim().replace(/ \[.*\]$/, ''));
			assert.deepEqual(header, [...queryGpuFields], `${name}: header names the fields in order`);
			lines = lines.slice(1);
		}

		assert.ok(lines.length >= inventory.length, `${name}: a reading of every GPU`);
		const seen = new Set<number>();
		for (const line of lines) {
			const sample = parseQueryLine(line, 0);
			const gpu = byIndex.get(sample.index);
			assert.ok(gpu, `${name}: unknown GPU index in ${line}`);
			assert.equal(sample.uuid, gpu.uuid, `${name}: index and UUID agree with -q -x`);
			assert.equal(sample.memoryTotalMiB, gpu.memoryTotalMiB, `${name}: memory total agrees with -q -x`);
			assert.ok(sample.memoryUsedMiB !== null && sample.temperatureC !== null, `${name}: readings present in ${line}`);
			seen.add(sample.index);
		}

		assert.equal(seen.size, inventory.length, `${name}: every GPU reported`);
		checkedFiles.push(name);
	}

	if (files.includes('version.txt')) {
		const driver = /DRIVER version\s*:\s*(\S+)/i.exec(read('version.txt'))?.[1];
		if (driver !== undefined) {
			assert.equal(driver, inventory[0]?.driverVersion, 'nvidia-smi --version agrees with -q -x');
			checkedFiles.push('version.txt');
		}
	}

	if (files.includes('exit-codes.txt')) {
		const codes = Object.fromEntries(read('exit-codes.txt').trim().split('\n').map(line => line.split('=')));
		assert.equal(codes['qx'], '0', 'nvidia-smi -q -x exit code');
		assert.equal(codes['list-gpus'], '0', 'nvidia-smi -L exit code');
		assert.equal(codes['query-once'], '0', '--query-gpu exit code');
		// timeout(1) ends the loop: 124.
		assert.equal(codes['query-nounits'], '124', '--query-gpu -l ran until stopped');
		checkedFiles.push('exit-codes.txt');
	}

	return {gpus: inventory, checkedFiles};
}

describe('captures from real NVIDIA machines (test/fixtures/nvidia-smi/real-device)', () => {
	const folders = captureFolders();
	if (folders.length === 0) {
		it('has no real-device captures yet', {skip: 'drop scripts/capture-nvidia-smi.sh output into test/fixtures/nvidia-smi/real-device/<machine>/'}, () => {});
	}

	for (const folder of folders) {
		it(`parses and cross-checks ${path.relative(realDevice, folder) || 'real-device/'}`, async () => {
			const {checkedFiles} = await checkCaptureFolder(folder);
			assert.ok(checkedFiles.some(file => file.endsWith('.csv')) || !readdirSync(folder).some(file => file.endsWith('.csv')));
		});
	}

	if (existsSync(path.join(realDevice, 'qx-busy.xml'))) {
		it('reads the lent H200 under load: one python3 process, power draw equal to --query-gpu power.draw', async () => {
			const [gpu] = normalizeInventory(await parseInventoryXml(readFileSync(path.join(realDevice, 'qx-busy.xml'), 'utf8')));
			assert.equal(gpu?.name, 'NVIDIA H200');
			assert.equal(gpu?.uuid, 'GPU-d35cd839-2b1b-bf1c-5dbc-e144de846343');
			assert.equal(gpu?.memoryTotalMiB, 143771);
			assert.equal(gpu?.memoryUsedMiB, 1395);
			assert.equal(gpu?.utilizationPercent, 100);
			assert.equal(gpu?.temperatureC, 64);
			// The same 671.63 W appears in query-nounits.csv at the same second: power.draw is the average, not the instant reading (684.17 W).
			assert.equal(gpu?.powerDrawW, 671.63);
			assert.equal(gpu?.powerLimitW, 700);
			assert.equal(gpu?.driverVersion, '580.159.04');
			assert.equal(gpu?.cudaVersion, '13.0');
			assert.deepEqual(gpu?.processes, [{pid: 423, name: 'python3', type: 'C', usedMemoryMiB: 1386}]);
		});
	}
});

describe('scripts/capture-nvidia-smi.sh', () => {
	const output = mkdtempSync(path.join(tmpdir(), 'ollama-multi-capture-'));
	after(() => {
		rmSync(output, {recursive: true, force: true});
	});

	it('writes a capture folder that passes the same checks (run against the fake nvidia-smi)', async () => {
		await promisify(execFile)('bash', [captureScript, output], {env: doublesEnv({CAPTURE_LOOP_SECONDS: '1', CAPTURE_SHORT_SECONDS: '1', FAKE_NVIDIA_SMI_LOOP_MS: '200'})});
		const {gpus, checkedFiles} = await checkCaptureFolder(output);
		assert.equal(gpus.length, 4);
		assert.deepEqual(checkedFiles, ['qx.xml', 'list-gpus.txt', 'query-nounits.csv', 'query-once.csv', 'query-lms.csv', 'query-units.csv', 'exit-codes.txt']);
		assert.match(readFileSync(path.join(output, 'timing.txt'), 'utf8'), /^qx \d+\.\d{3}s$/m);
	});
});
