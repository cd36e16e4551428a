import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, it} from 'node:test';
import {fileURLToPath} from 'node:url';
import type {Gpu} from '../source/gpu/gpu.js';
import {InventoryFormatError, inventoryWarnings, normalizeInventory} from '../source/gpu/normalize-inventory.js';
import {parseInventoryXml} from '../source/gpu/nvidia-smi.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'nvidia-smi');

async function inventoryOf(file: string): Promise<{gpus: Gpu[]; warnings: string[]}> {
	const document = await parseInventoryXml(readFileSync(path.join(fixtures, file), 'utf8'));
	const gpus = normalizeInventory(document);
	return {gpus, warnings: inventoryWarnings(document, gpus)};
}

const idle = {migEnabled: false, migDevices: [], processes: []};

describe('normalizeInventory on real nvidia-smi -q -x captures', () => {
	it('reads a schema v13 document with two GPUs (RTX 2070, driver 590), power from gpu_power_readings', async () => {
		const {gpus, warnings} = await inventoryOf('qx__2x-rtx-2070__masked-uuids__drv590.44.01__dtd-v13.xml');
		const common = {name: 'NVIDIA GeForce RTX 2070', memoryTotalMiB: 8192, memoryUsedMiB: 1, memoryFreeMiB: 7786, utilizationPercent: 0, powerLimitW: 175, driverVersion: '590.44.01', cudaVersion: '13.1', ...idle};
		assert.deepEqual(gpus, [
			// Turing has no one-second average (average_power_draw N/A), so the instant reading is used.
			{index: 0, uuid: 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab', pciBusId: '00000000:01:00.0', temperatureC: 14, powerDrawW: 9.23, ...common},
			{index: 1, uuid: 'GPU-12345678-aaaa-bbbb-cccc-0123456789cd', pciBusId: '00000000:02:00.0', temperatureC: 13, powerDrawW: 11.82, ...common},
		]);
		assert.deepEqual(warnings, []);
	});

	it('reads a schema v13 RTX 3080 under load, taking the average power draw like --query-gpu power.draw does', async () => {
		const {gpus} = await inventoryOf('qx__rtx-3080__1gpu__drv595.58.03__dtd-v13.xml');
		assert.deepEqual(gpus, [{
			index: 0,
			uuid: 'GPU-19d6d965-2acc-f646-00f8-4c76979aabb4',
			name: 'NVIDIA GeForce RTX 3080',
			pciBusId: '00000000:0C:00.0',
			memoryTotalMiB: 10240,
			memoryUsedMiB: 9184,
			memoryFreeMiB: 660,
			utilizationPercent: 65,
			temperatureC: 27,
			powerDrawW: 139.62,
			powerLimitW: 320,
			driverVersion: '595.58.03',
			cudaVersion: '13.2',
			...idle,
		}]);
	});

	it('reads a schema v12 RTX 3090 whose power is still in power_readings, with a lowered power limit', async () => {
		const {gpus} = await inventoryOf('qx__rtx-3090__1gpu__drv525.147.05__dtd-v12.xml');
		assert.equal(gpus.length, 1);
		assert.deepEqual(gpus[0], {
			index: 0,
			uuid: 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab',
			name: 'NVIDIA GeForce RTX 3090',
			pciBusId: '00000000:00:10.0',
			memoryTotalMiB: 24576,
			memoryUsedMiB: 1,
			memoryFreeMiB: 24258,
			utilizationPercent: 0,
			temperatureC: 37,
			powerDrawW: 27.23,
			// power_limit (200 W, set by the admin), not default_power_limit (350 W).
			powerLimitW: 200,
			driverVersion: '525.147.05',
			cudaVersion: '12.0',
			...idle,
		});
	});

	it('lists the one process of a schema v11 A10G (given as a single object, not a list)', async () => {
		const {gpus} = await inventoryOf('qx__a10g__1gpu__1-process__drv515.105.01__dtd-v11.xml');
		assert.equal(gpus.length, 1);
		const [gpu] = gpus;
		assert.equal(gpu?.name, 'NVIDIA A10G');
		assert.equal(gpu?.uuid, 'GPU-9a9a6c50-2a47-2f51-a902-b82c3b127e94');
		assert.equal(gpu?.pciBusId, '00000000:00:1E.0');
		assert.equal(gpu?.memoryTotalMiB, 23028);
		assert.equal(gpu?.memoryUsedMiB, 22);
		assert.equal(gpu?.powerDrawW, 25.58);
		assert.equal(gpu?.powerLimitW, 300);
		assert.equal(gpu?.driverVersion, '515.105.01');
		assert.equal(gpu?.cudaVersion, '11.7');
		assert.deepEqual(gpu?.processes, [{pid: 725, name: '/usr/lib/xorg/Xorg', type: 'G', usedMemoryMiB: 22}]);
	});

	it('lists both processes of a schema v11 Tesla T4', async () => {
		const {gpus} = await inventoryOf('qx__tesla-t4__1gpu__2-processes__drv515.105.01__dtd-v11.xml');
		assert.equal(gpus[0]?.name, 'Tesla T4');
		assert.equal(gpus[0]?.uuid, 'GPU-d37e67a5-91dd-3774-a5cb-99096249601a');
		assert.equal(gpus[0]?.memoryTotalMiB, 15360);
		assert.equal(gpus[0]?.memoryUsedMiB, 1032);
		assert.equal(gpus[0]?.temperatureC, 40);
		assert.equal(gpus[0]?.powerLimitW, 70);
		assert.deepEqual(gpus[0]?.processes, [
			{pid: 675, name: '/usr/lib/xorg/Xorg', type: 'G', usedMemoryMiB: 22},
			{pid: 5762, name: 'python', type: 'C', usedMemoryMiB: 1005},
		]);
	});

	it('reads two RTX 2080 Ti from an old schema v10 document (driver 410)', async () => {
		const {gpus} = await inventoryOf('qx__2x-rtx-2080-ti__ecc-NA__drv410.73__dtd-v10.xml');
		assert.deepEqual(gpus.map(gpu => [gpu.index, gpu.name, gpu.uuid, gpu.pciBusId, gpu.memoryTotalMiB, gpu.powerDrawW, gpu.powerLimitW]), [
			[0, 'GeForce RTX 2080 Ti', 'GPU-57567e11-0be2-381b-5132-2ad95c262e58', '00000000:02:00.0', 10989, 2.12, 250],
			[1, 'GeForce RTX 2080 Ti', 'GPU-ef1d0068-5bfd-f1e4-7e79-ff35d71d44b8', '00000000:03:00.0', 10989, 19.11, 250],
		]);
		assert.ok(gpus.every(gpu => gpu.driverVersion === '410.73' && gpu.cudaVersion === '10.0'));
	});

	it('turns the N/A power readings of a Quadro P400 (driver 418, no DOCTYPE) into null', async () => {
		const {gpus} = await inventoryOf('qx__quadro-p400__1gpu__drv418.43__no-doctype.xml');
		assert.equal(gpus[0]?.name, 'Quadro P400');
		assert.equal(gpus[0]?.uuid, 'GPU-8f750be4-dfbc-23b9-b33f-da729a536494');
		assert.equal(gpus[0]?.memoryTotalMiB, 1998);
		assert.equal(gpus[0]?.temperatureC, 33);
		assert.equal(gpus[0]?.powerDrawW, null);
		assert.equal(gpus[0]?.powerLimitW, null);
		assert.equal(gpus[0]?.driverVersion, '418.43');
		assert.deepEqual(gpus[0]?.processes, []);
	});

	it('copes with a trimmed document without driver version, attached_gpus, minor number or power limit', async () => {
		const {gpus, warnings} = await inventoryOf('qx__gtx-1070-ti__hand-trimmed__no-driver-no-attached-gpus__dtd-v10.xml');
		assert.deepEqual(gpus, [{
			index: 0,
			uuid: 'GPU-f9ba66fc-a7f5-94c5-da19-019ef2f9c665',
			name: 'GeForce GTX 1070 Ti',
			pciBusId: '00000000:01:00.0',
			memoryTotalMiB: 4096,
			memoryUsedMiB: 42,
			memoryFreeMiB: 4054,
			utilizationPercent: 0,
			temperatureC: 39,
			powerDrawW: null,
			powerLimitW: null,
			driverVersion: undefined,
			cudaVersion: undefined,
			...idle,
		}]);
		assert.deepEqual(warnings, []);
	});
});

describe('normalizeInventory on synthesized documents', () => {
	it('numbers 8 GPUs by document (PCI) order, not by their shuffled device minor numbers', async () => {
		const {gpus, warnings} = await inventoryOf('synth__8x-h100-sxm__shuffled-minor-numbers__2-ollama-processes__drv580.159.04__dtd-v13.xml');
		assert.deepEqual(gpus.map(gpu => gpu.index), [0, 1, 2, 3, 4, 5, 6, 7]);
		assert.deepEqual(gpus.map(gpu => gpu.pciBusId?.slice(9, 11)), ['18', '2A', '3A', '5D', '9A', 'AB', 'BA', 'DB']);
		assert.equal(gpus[0]?.uuid, 'GPU-0b3c5d7e-1f20-4a31-8c42-53647586a7b8');
		assert.equal(gpus[7]?.uuid, 'GPU-72c3e4f5-8697-41a8-f3b9-cadbecfd6e2f');
		assert.equal(new Set(gpus.map(gpu => gpu.uuid)).size, 8);
		assert.ok(gpus.every(gpu => gpu.name === 'NVIDIA H100 80GB HBM3' && gpu.memoryTotalMiB === 81559 && gpu.powerLimitW === 700));
		assert.deepEqual(gpus.filter(gpu => gpu.processes.length > 0).map(gpu => [gpu.index, gpu.processes]), [
			[0, [{pid: 41230, name: '/usr/local/bin/ollama', type: 'C', usedMemoryMiB: 5702}]],
			[5, [{pid: 41235, name: '/usr/local/bin/ollama', type: 'C', usedMemoryMiB: 5702}]],
		]);
		assert.equal(gpus[5]?.utilizationPercent, 97);
		assert.equal(gpus[5]?.powerDrawW, 603.4);
		assert.deepEqual(warnings, []);
	});

	it('reads MIG mode, MIG instances and instance processes, and warns about whole-GPU pinning', async () => {
		const {gpus, warnings} = await inventoryOf('synth__2x-h100__gpu0-mig-enabled-2-instances__drv580.159.04__dtd-v13.xml');
		assert.equal(gpus[0]?.migEnabled, true);
		assert.deepEqual(gpus[0]?.migDevices, [
			{gpuInstanceId: 1, computeInstanceId: 0, memoryTotalMiB: 40448},
			{gpuInstanceId: 2, computeInstanceId: 0, memoryTotalMiB: 40448},
		]);
		// GPU utilisation is not reported in MIG mode.
		assert.equal(gpus[0]?.utilizationPercent, null);
		assert.deepEqual(gpus[0]?.processes.map(process => process.pid), [52001, 52077]);
		assert.equal(gpus[1]?.migEnabled, false);
		assert.deepEqual(gpus[1]?.migDevices, []);
		assert.equal(warnings.length, 1);
		assert.match(warnings[0] ?? '', /GPU 0 .*MIG mode enabled.*nvidia-smi -i 0 -mig 0/);
	});

	it('turns "[Not Supported]", "[N/A]", "Unknown Error" and missing fields into null (Windows WDDM)', async () => {
		const {gpus} = await inventoryOf('synth__windows-wddm__not-supported-and-unknown-error-fields__drv552.22__dtd-v12.xml');
		assert.deepEqual(gpus[0], {
			index: 0,
			uuid: 'GPU-5f0b3a44-8c1d-2e7f-9a60-b14c2d3e4f50',
			name: 'NVIDIA GeForce GTX 1650',
			pciBusId: '00000000:01:00.0',
			memoryTotalMiB: 4096,
			memoryUsedMiB: null,
			memoryFreeMiB: null,
			utilizationPercent: null,
			temperatureC: null,
			powerDrawW: null,
			powerLimitW: null,
			driverVersion: '552.22',
			cudaVersion: '12.4',
			migEnabled: false,
			migDevices: [],
			processes: [
				{pid: 7312, name: 'C:\\Windows\\explorer.exe', type: 'C+G', usedMemoryMiB: null},
				{pid: 11840, name: 'C:\\Users\\ada\\AppData\\Local\\Programs\\Ollama\\lib\\ollama\\ollama.exe', type: 'C', usedMemoryMiB: null},
			],
		});
	});
});

describe('normalizeInventory edge cases', () => {
	const gpuElement = (extra: Record<string, unknown>) => ({$: {id: '00000000:01:00.0'}, product_name: 'NVIDIA L4', uuid: 'GPU-aaaa', ...extra});

	it('rejects a document that is not an nvidia-smi log', () => {
		assert.throws(() => normalizeInventory({html: {}}), InventoryFormatError);
		assert.throws(() => normalizeInventory(null), /no <nvidia_smi_log>/);
	});

	it('gives no GPU for a log without <gpu> elements', () => {
		assert.deepEqual(normalizeInventory({nvidia_smi_log: {driver_version: '550.54.15', attached_gpus: '0'}}), []);
	});

	it('takes the PCI id from the <gpu id> attribute when <pci> is missing, and "None" processes as none', () => {
		const [gpu] = normalizeInventory({nvidia_smi_log: {gpu: gpuElement({processes: 'None'})}});
		assert.equal(gpu?.pciBusId, '00000000:01:00.0');
		assert.deepEqual(gpu?.processes, []);
	});

	it('skips process entries without a usable pid', () => {
		const [gpu] = normalizeInventory({nvidia_smi_log: {gpu: gpuElement({processes: {process_info: [{pid: 'N/A', process_name: 'x'}, {pid: '42', process_name: 'ollama', used_memory: '100 MiB'}]}})}});
		assert.deepEqual(gpu?.processes, [{pid: 42, name: 'ollama', type: undefined, usedMemoryMiB: 100}]);
	});

	it('warns when attached_gpus disagrees, a UUID is missing, or minor numbers repeat', () => {
		const document = {nvidia_smi_log: {attached_gpus: '3', gpu: [
			gpuElement({minor_number: '0'}),
			{product_name: 'NVIDIA L4', minor_number: '0'},
		]}};
		const gpus = normalizeInventory(document);
		assert.equal(gpus[1]?.uuid, '');
		const warnings = inventoryWarnings(document, gpus);
		assert.equal(warnings.length, 3);
		assert.match(warnings[0] ?? '', /says 3 GPUs are attached but describes 2/);
		assert.match(warnings[1] ?? '', /GPUs 0 and 1 both report device minor number 0/);
		assert.match(warnings[2] ?? '', /GPU 1 \(NVIDIA L4\) reports no UUID/);
	});
});
