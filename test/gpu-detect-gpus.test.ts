import assert from 'node:assert/strict';
import {chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {after, describe, it} from 'node:test';
import {fileURLToPath} from 'node:url';
import {detectGpus, type GpuDetection} from '../source/gpu/detect-gpus.js';
import {doublesEnv} from './helpers/doubles.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'nvidia-smi');
const scratch = mkdtempSync(path.join(tmpdir(), 'ollama-multi-detect-'));
after(() => {
	rmSync(scratch, {recursive: true, force: true});
});

/** A PATH holding only an `nvidia-smi` shell script with this body (absolute paths only inside). */
function pathWithNvidiaSmi(body: string, mode = 0o755): NodeJS.ProcessEnv {
	const folder = mkdtempSync(path.join(scratch, 'bin-'));
	const file = path.join(folder, 'nvidia-smi');
	writeFileSync(file, `#!/bin/sh\n${body}\n`);
	chmodSync(file, mode);
	return {...process.env, PATH: folder};
}

function assertFailure(detection: GpuDetection, status: Exclude<GpuDetection['status'], 'found'>, message: RegExp): void {
	assert.ok(detection.status === status, JSON.stringify(detection));
	assert.match(detection.message, message);
}

describe('detectGpus with the fake nvidia-smi', () => {
	it('finds the fake fleet\'s 4 GPUs with names, UUIDs and driver version', async () => {
		const detection = await detectGpus({env: doublesEnv()});
		assert.equal(detection.status, 'found', JSON.stringify(detection));
		assert.ok(detection.status === 'found');
		assert.deepEqual(detection.gpus.map(gpu => [gpu.index, gpu.name, gpu.uuid, gpu.memoryTotalMiB]), [
			[0, 'NVIDIA GeForce RTX 4090', 'GPU-e2453eca-caf9-14b7-5a37-537e81d4f270', 24564],
			[1, 'NVIDIA GeForce RTX 3090', 'GPU-ba773f1f-ac07-e32a-8e66-66090b90c5c5', 24576],
			[2, 'NVIDIA RTX A4000', 'GPU-ea5bc593-8458-1714-8447-ffedb58be48d', 16376],
			[3, 'NVIDIA GeForce RTX 3060', 'GPU-9a12981a-b66c-fab2-818f-5ee60a0831aa', 12288],
		]);
		assert.equal(detection.driverVersion, '570.133.07');
		assert.equal(detection.cudaVersion, '12.8');
		assert.deepEqual(detection.warnings, []);
	});

	it('finds 8 GPUs on an 8-GPU box', async () => {
		const detection = await detectGpus({env: doublesEnv({FAKE_GPU_COUNT: '8'})});
		assert.ok(detection.status === 'found');
		assert.deepEqual(detection.gpus.map(gpu => gpu.index), [0, 1, 2, 3, 4, 5, 6, 7]);
		assert.equal(new Set(detection.gpus.map(gpu => gpu.uuid)).size, 8);
	});

	it('says "no devices" when nvidia-smi finds no GPU (exit 6)', async () => {
		assertFailure(await detectGpus({env: doublesEnv({FAKE_NVIDIA_SMI_MODE: 'no-devices'})}), 'no-devices', /finds no NVIDIA GPU.*lspci/);
	});

	it('says the driver is not loaded when nvidia-smi cannot reach it (exit 9)', async () => {
		const detection = await detectGpus({env: doublesEnv({FAKE_NVIDIA_SMI_MODE: 'no-driver'})});
		assertFailure(detection, 'driver-not-loaded', /cannot talk to the NVIDIA driver.*modprobe nvidia/);
		assert.ok(detection.status !== 'found');
		assert.match(detection.detail, /couldn't communicate with the NVIDIA driver/);
	});
});

describe('detectGpus with scripted nvidia-smi outputs', () => {
	it('says nvidia-smi is missing when it is not on PATH', async () => {
		const emptyFolder = mkdtempSync(path.join(scratch, 'empty-'));
		assertFailure(await detectGpus({env: {...process.env, PATH: emptyFolder}}), 'nvidia-smi-missing', /not on PATH.*Install the NVIDIA driver/);
	});

	it('reads a document larger than 1 MiB despite a warning on stderr (node-nvidia-smi\'s own exec would fail on both)', async () => {
		const v13 = readFileSync(path.join(fixtures, 'qx__2x-rtx-2070__masked-uuids__drv590.44.01__dtd-v13.xml'), 'utf8');
		const gpuBlock = v13.slice(v13.indexOf('\t<gpu id='), v13.indexOf('\t</gpu>') + '\t</gpu>\n'.length);
		const blocks = Array.from({length: 32}, (_, index) => gpuBlock
			.replaceAll('00000000:01:00.0', `00000000:${(index + 1).toString(16).padStart(2, '0').toUpperCase()}:00.0`)
			.replace('0123456789ab', `0123456789${index.toString(16).padStart(2, '0')}`)
			.replace('<minor_number>0</minor_number>', `<minor_number>${index}</minor_number>`));
		const document = v13.slice(0, v13.indexOf('\t<gpu id=')).replace('<attached_gpus>2</attached_gpus>', '<attached_gpus>32</attached_gpus>')
			+ blocks.join('') + '\n</nvidia_smi_log>\n';
		const file = path.join(scratch, 'big.xml');
		writeFileSync(file, document);
		assert.ok(document.length > 1024 * 1024, `document is ${document.length} bytes`);
		const detection = await detectGpus({env: pathWithNvidiaSmi(`/bin/cat ${file}\necho "WARNING: infoROM is corrupted at gpu 0000:03:00.0" >&2`)});
		assert.ok(detection.status === 'found', JSON.stringify(detection).slice(0, 500));
		assert.equal(detection.gpus.length, 32);
		assert.equal(detection.gpus[31]?.uuid, 'GPU-12345678-aaaa-bbbb-cccc-01234567891f');
		assert.equal(detection.gpus[31]?.pciBusId, '00000000:20:00.0');
		assert.deepEqual(detection.warnings, []);
	});

	it('uses the GPUs still described when nvidia-smi exits non-zero, and says so', async () => {
		const file = path.join(fixtures, 'qx__tesla-t4__1gpu__2-processes__drv515.105.01__dtd-v11.xml');
		const detection = await detectGpus({env: pathWithNvidiaSmi(`/bin/cat '${file}'\necho "Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error" >&2\nexit 15`)});
		assert.ok(detection.status === 'found');
		assert.deepEqual(detection.gpus.map(gpu => gpu.name), ['Tesla T4']);
		assert.match(detection.warnings[0] ?? '', /exited with code 15 but still described 1 GPU; those are used\. It said: Unable to determine the device handle/);
	});

	it('reports output that is not nvidia-smi XML as a failure, not as zero GPUs', async () => {
		assertFailure(await detectGpus({env: pathWithNvidiaSmi('echo "Segmentation fault"')}), 'failed', /not its usual XML/);
		assertFailure(await detectGpus({env: pathWithNvidiaSmi('echo "Insufficient Permissions"\nexit 4')}), 'failed', /failed with exit code 4/);
	});

	it('reports a driver/library version mismatch as a driver problem', async () => {
		assertFailure(await detectGpus({env: pathWithNvidiaSmi('echo "Failed to initialize NVML: Driver/library version mismatch"\necho "NVML library version: 580.95"\nexit 18')}), 'driver-not-loaded', /does not match/);
	});

	it('reports an nvidia-smi that cannot be executed', async () => {
		assertFailure(await detectGpus({env: pathWithNvidiaSmi('exit 0', 0o644)}), 'failed', /could not be started \(EACCES\)/);
	});

	it('reports a hung nvidia-smi once its time limit passes', async () => {
		assertFailure(await detectGpus({env: pathWithNvidiaSmi('exec /bin/sleep 30'), timeoutMs: 300}), 'failed', /did not answer within its time limit/);
	});
});
