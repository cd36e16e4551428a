import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {bytesOf, isCpuCompute, isDiscoveryProgress, isDiscoveryStart, parseDefaultContextLine, parseInferenceCompute, parseListeningVersion} from '../source/ollama/server-log.js';

// Lines in the shape of the 0.34.4 start-up capture (log__serve-startup__inference-compute+vram-based-default-context__tesla-t4__ollama-0.34.4.txt).
const listening = 'time=2026-09-24T07:25:25.583Z level=INFO source=routes.go:2065 msg="Listening on 127.0.0.1:11434 (version 0.34.4)"';
const discovering = 'time=2026-09-24T07:25:25.585Z level=INFO source=runner.go:60 msg="discovering available GPUs..."';
const compute = 'time=2026-09-24T07:25:29.580Z level=INFO source=types.go:32 msg="inference compute" id=0 filter_id=0 library=CUDA compute=7.5 name=CUDA0 description="Tesla T4" libdirs=ollama,cuda_v13 driver=13.0 pci_id=0000:00:04.0 type=discrete total="14.6 GiB" available="14.5 GiB"';
const context = 'time=2026-09-24T07:25:29.580Z level=INFO source=routes.go:2115 msg="vram-based default context" total_vram="14.6 GiB" default_num_ctx=4096';
const cpu = 'time=2026-09-24T07:25:29.580Z level=INFO source=types.go:32 msg="inference compute" id=cpu library=cpu compute="" name=cpu description=cpu libdirs=ollama driver="" pci_id="" type="" total="62.5 GiB" available="60.1 GiB"';
const legacy = 'time=2025-09-24T07:25:29.580Z level=INFO source=types.go:130 msg="inference compute" id=GPU-e2453eca-caf9-14b7-5a37-537e81d4f270 library=cuda variant=v12 compute=8.9 driver=12.8 name="NVIDIA GeForce RTX 4090" total="24.0 GiB" available="23.6 GiB"';

describe('server log', () => {
	test('the version from "Listening on"', () => {
		assert.equal(parseListeningVersion(listening), '0.34.4');
		assert.equal(parseListeningVersion(discovering), undefined);
	});

	test('inference compute: GPU, CPU and the 0.12 shape', () => {
		const gpu = parseInferenceCompute(compute)!;
		assert.equal(gpu.library, 'CUDA');
		assert.equal(gpu.filterId, '0');
		assert.equal(gpu.description, 'Tesla T4');
		assert.equal(gpu.totalBytes, bytesOf('14.6 GiB'));
		assert.ok(!isCpuCompute(gpu));
		assert.ok(isCpuCompute(parseInferenceCompute(cpu)!));
		assert.equal(parseInferenceCompute(legacy)?.description, 'NVIDIA GeForce RTX 4090');
		assert.equal(parseInferenceCompute(listening), undefined);
	});

	test('vram-based default context', () => {
		assert.deepEqual(parseDefaultContextLine(context), {defaultNumCtx: 4096, totalVramBytes: bytesOf('14.6 GiB')});
	});

	test('discovery progress', () => {
		assert.ok(isDiscoveryStart(discovering));
		assert.ok(isDiscoveryProgress(discovering));
		assert.ok(isDiscoveryProgress(compute));
		assert.ok(isDiscoveryProgress('time=… level=WARN source=runner.go:584 msg="llama-server GPU discovery watchdog timed out" OLLAMA_LIBRARY_PATH=[/usr/lib/ollama /usr/lib/ollama/cuda_v12]'));
		assert.ok(!isDiscoveryProgress(listening));
		assert.equal(bytesOf('512 MiB'), 512 * 1024 * 1024);
		assert.equal(bytesOf('n/a'), undefined);
	});
});
