import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {parseQueryLine, QueryLineError, queryGpuFields} from '../source/gpu/parse-query-line.js';

describe('parseQueryLine', () => {
	it('reads a line as nvidia-smi prints it with nounits (real H200 under load)', () => {
		assert.deepEqual(parseQueryLine('0, GPU-d35cd839-2b1b-bf1c-5dbc-e144de846343, 1395, 143771, 100, 64, 669.73, 700.00', 1234), {
			index: 0,
			uuid: 'GPU-d35cd839-2b1b-bf1c-5dbc-e144de846343',
			memoryUsedMiB: 1395,
			memoryTotalMiB: 143771,
			utilizationPercent: 100,
			temperatureC: 64,
			powerDrawW: 669.73,
			powerLimitW: 700,
			at: 1234,
		});
	});

	it('turns every "cannot read this" form into null', () => {
		const sample = parseQueryLine('3, GPU-5f0b3a44-8c1d-2e7f-9a60-b14c2d3e4f50, [N/A], 4096, [Not Supported], [Unknown Error], N/A, [Insufficient Permissions]', 0);
		assert.equal(sample.index, 3);
		assert.equal(sample.memoryTotalMiB, 4096);
		assert.equal(sample.memoryUsedMiB, null);
		assert.equal(sample.utilizationPercent, null);
		assert.equal(sample.temperatureC, null);
		assert.equal(sample.powerDrawW, null);
		assert.equal(sample.powerLimitW, null);
	});

	it('tolerates extra spaces, a trailing carriage return and values that still carry units', () => {
		const sample = parseQueryLine('  1 ,GPU-abc ,  12 MiB, 24564 MiB , 7 %,41,  21.5 W , 450.00 W \r', 5);
		assert.deepEqual(
			[sample.index, sample.uuid, sample.memoryUsedMiB, sample.memoryTotalMiB, sample.utilizationPercent, sample.temperatureC, sample.powerDrawW, sample.powerLimitW],
			[1, 'GPU-abc', 12, 24564, 7, 41, 21.5, 450],
		);
	});

	it('rejects a line with the wrong number of columns, naming the expected ones', () => {
		assert.throws(() => parseQueryLine('0, GPU-abc, 1, 2', 0), (error: unknown) => {
			assert.ok(error instanceof QueryLineError);
			assert.match(error.message, /4 columns where 8 were expected \(index, uuid, memory\.used/);
			assert.equal(error.line, '0, GPU-abc, 1, 2');
			return true;
		});
	});

	it('rejects an error message printed instead of readings', () => {
		assert.throws(() => parseQueryLine('Field "bogus" is not a valid field to query.', 0), QueryLineError);
		assert.throws(() => parseQueryLine('No devices were found', 0), /1 column where 8/);
	});

	it('rejects a header line and a line without index or UUID', () => {
		assert.throws(() => parseQueryLine('index, uuid, memory.used [MiB], memory.total [MiB], utilization.gpu [%], temperature.gpu, power.draw [W], power.limit [W]', 0), /index that is not a number/);
		assert.throws(() => parseQueryLine('0, [N/A], 1, 2, 3, 4, 5, 6', 0), /no UUID for GPU 0/);
	});

	it('asks for the fields in the order it reads them', () => {
		assert.deepEqual(queryGpuFields, ['index', 'uuid', 'memory.used', 'memory.total', 'utilization.gpu', 'temperature.gpu', 'power.draw', 'power.limit']);
	});
});
