// The fake `nvidia-smi` (contract: ../README.md).
import {loadFleet} from './fleet.mjs';
import {liveReadings} from './gpu-live.mjs';
import {smiXml} from './smi-xml.mjs';

const NO_DRIVER = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n";
const NO_DEVICES = 'No devices were found\n';
const INVALID_ARGUMENTS = "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n";

const pad2 = value => String(value).padStart(2, '0');

function queryTimestamp(date) {
	return `${date.getFullYear()}/${pad2(date.getMonth() + 1)}/${pad2(date.getDate())} ${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** Query fields: real header text, and value (without unit) plus unit. `na` = reads [N/A] when the GPU lists it as unsupported. */
const FIELDS = {
	timestamp: {header: 'timestamp', value: (_r, context) => [queryTimestamp(context.now)]},
	driver_version: {header: 'driver_version', value: (_r, context) => [context.fleet.driverVersion]},
	count: {header: 'count', value: (_r, context) => [String(context.fleet.gpus.length)]},
	name: {header: 'name', value: r => [r.gpu.name]},
	index: {header: 'index', value: r => [String(r.gpu.index)]},
	uuid: {header: 'uuid', value: r => [r.gpu.uuid]},
	'pci.bus_id': {header: 'pci.bus_id', value: r => [r.gpu.pciBusId]},
	pstate: {header: 'pstate', value: r => [r.pstate]},
	'fan.speed': {header: 'fan.speed [%]', unit: '%', value: r => [String(r.fanPercent)]},
	'memory.total': {header: 'memory.total [MiB]', unit: 'MiB', na: true, value: r => [String(r.gpu.memoryTotalMiB)]},
	'memory.reserved': {header: 'memory.reserved [MiB]', unit: 'MiB', na: true, value: r => [String(r.gpu.reservedMiB)]},
	'memory.used': {header: 'memory.used [MiB]', unit: 'MiB', na: true, value: r => [String(r.usedMiB)]},
	'memory.free': {header: 'memory.free [MiB]', unit: 'MiB', na: true, value: r => [String(r.freeMiB)]},
	'utilization.gpu': {header: 'utilization.gpu [%]', unit: '%', na: true, value: r => [String(r.utilization)]},
	'utilization.memory': {header: 'utilization.memory [%]', unit: '%', na: true, value: r => [String(r.memoryUtilization)]},
	'temperature.gpu': {header: 'temperature.gpu', na: true, value: r => [String(r.temperatureC)]},
	'temperature.memory': {header: 'temperature.memory', value: () => [null]},
	'power.draw': {header: 'power.draw [W]', unit: 'W', na: true, value: r => [r.powerDrawW.toFixed(2)]},
	'power.draw.instant': {header: 'power.draw.instant [W]', unit: 'W', na: 'power.draw', value: r => [r.powerDrawW.toFixed(2)]},
	'power.limit': {header: 'power.limit [W]', unit: 'W', na: true, value: r => [r.gpu.powerLimitW.toFixed(2)]},
	'clocks.sm': {header: 'clocks.current.sm [MHz]', unit: 'MHz', value: r => [String(r.smClockMHz)]},
	'clocks.mem': {header: 'clocks.current.memory [MHz]', unit: 'MHz', value: r => [String(r.memClockMHz)]},
	'mig.mode.current': {header: 'mig.mode.current', value: r => [r.gpu.mig.length > 0 ? 'Enabled' : null]},
};
const ALIASES = {
	gpu_name: 'name',
	gpu_uuid: 'uuid',
	gpu_bus_id: 'pci.bus_id',
	'pci.bus': 'pci.bus_id',
	'clocks.current.sm': 'clocks.sm',
	'clocks.current.memory': 'clocks.mem',
	'power.draw.average': 'power.draw',
	'enforced.power.limit': 'power.limit',
};

function parseArguments(argv) {
	const options = {idList: undefined};
	const takeValue = (argument, index) => {
		const equals = argument.indexOf('=');
		if (equals !== -1) {
			return [argument.slice(equals + 1), index];
		}

		return [argv[index + 1], index + 1];
	};

	for (let index = 0; index < argv.length; index++) {
		const argument = argv[index];
		const name = argument.split('=')[0];
		switch (name) {
			case '-q':
			case '--query': {
				options.query = true;
				break;
			}

			case '-x':
			case '--xml-format': {
				options.xml = true;
				break;
			}

			case '-qx':
			case '-xq': {
				options.query = true;
				options.xml = true;
				break;
			}

			case '-L':
			case '--list-gpus': {
				options.list = true;
				break;
			}

			case '--query-gpu': {
				[options.queryGpu, index] = takeValue(argument, index);
				break;
			}

			case '--format': {
				[options.format, index] = takeValue(argument, index);
				break;
			}

			case '-i':
			case '--id': {
				[options.idList, index] = takeValue(argument, index);
				break;
			}

			case '-l':
			case '--loop': {
				const [value, next] = takeValue(argument, index);
				if (value !== undefined && /^\d+$/.test(value)) {
					options.loopMs = Number(value) * 1000;
					index = next;
				} else {
					options.loopMs = 5000;
				}

				break;
			}

			case '-lms':
			case '--loop-ms': {
				const [value, next] = takeValue(argument, index);
				options.loopMs = Number(value);
				index = next;
				break;
			}

			case '-h':
			case '--help': {
				options.help = true;
				break;
			}

			default: {
				options.invalid = argument;
			}
		}
	}

	return options;
}

function selectGpus(readings, idList) {
	if (idList === undefined) {
		return readings;
	}

	const selected = [];
	for (const id of idList.split(',').map(item => item.trim()).filter(Boolean)) {
		const match = readings.find(reading => (/^\d+$/.test(id) && reading.gpu.index === Number(id))
			|| reading.gpu.uuid.toLowerCase() === id.toLowerCase()
			|| reading.gpu.pciBusId.toLowerCase() === id.toLowerCase()
			|| reading.gpu.pciBusId.toLowerCase().endsWith(id.toLowerCase()));
		if (!match) {
			return undefined;
		}

		selected.push(match);
	}

	return selected;
}

function csvBlock(fields, readings, context, {header, units}) {
	const lines = [];
	if (header) {
		lines.push(fields.map(field => FIELDS[field].header).join(', '));
	}

	for (const reading of readings) {
		lines.push(fields.map(field => {
			const spec = FIELDS[field];
			const naKey = typeof spec.na === 'string' ? spec.na : field;
			const [value] = spec.value(reading, context);
			if (value === null || (spec.na && reading.gpu.unsupported.includes(naKey))) {
				return '[N/A]';
			}

			return units && spec.unit ? `${value} ${spec.unit}` : value;
		}).join(', '));
	}

	return lines.join('\n') + '\n';
}

function table(fleet, readings) {
	const now = new Date();
	const lines = [
		now.toString().slice(0, 24),
		'+-----------------------------------------------------------------------------------------+',
		`| NVIDIA-SMI ${fleet.driverVersion}             Driver Version: ${fleet.driverVersion}     CUDA Version: ${fleet.cudaVersion}     |`,
		'|-----------------------------------------+------------------------+----------------------+',
		'| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |',
		'| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |',
		'|=========================================+========================+======================|',
	];
	for (const r of readings) {
		lines.push(
			`| ${String(r.gpu.index).padStart(3)}  ${r.gpu.name.replace('NVIDIA ', '').padEnd(24).slice(0, 24)}        On  |   ${r.gpu.pciBusId} Off |                  N/A |`,
			`| ${String(r.fanPercent).padStart(2)}%   ${String(r.temperatureC).padStart(2)}C    ${r.pstate}  ${`${Math.round(r.powerDrawW)}W /  ${Math.round(r.gpu.powerLimitW)}W`.padStart(22)} | ${`${r.usedMiB}MiB /  ${r.gpu.memoryTotalMiB}MiB`.padStart(22)} | ${`${r.utilization}%`.padStart(8)}      Default |`,
			'+-----------------------------------------+------------------------+----------------------+',
		);
	}

	lines.push('', '+-----------------------------------------------------------------------------------------+',
		'| Processes:                                                                              |',
		'|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |',
		'|        ID   ID                                                               Usage      |',
		'|=========================================================================================|');
	const processes = readings.flatMap(r => r.processes.map(p => ({...p, index: r.gpu.index})));
	if (processes.length === 0) {
		lines.push('|  No running processes found                                                             |');
	}

	for (const p of processes) {
		lines.push(`|  ${String(p.index).padStart(3)}   N/A  N/A  ${String(p.pid).padStart(14)}      C   ${p.name.slice(-34).padEnd(34)} ${`${p.usedMemoryMiB}MiB`.padStart(10)} |`);
	}

	lines.push('+-----------------------------------------------------------------------------------------+');
	return lines.join('\n') + '\n';
}

export async function main(argv, env = process.env) {
	const write = text => process.stdout.write(text);
	process.stdout.on('error', () => process.exit(0));
	const mode = env.FAKE_NVIDIA_SMI_MODE || 'ok';
	if (mode === 'no-driver') {
		write(NO_DRIVER);
		return 9;
	}

	const options = parseArguments(argv);
	if (options.help) {
		write('NVIDIA System Management Interface -- v' + (loadFleet(env).driverVersion) + '\n');
		return 0;
	}

	if (options.invalid) {
		write(INVALID_ARGUMENTS);
		return 2;
	}

	const fleet = loadFleet(env);
	if (mode === 'no-devices' || fleet.gpus.length === 0) {
		write(NO_DEVICES);
		return 6;
	}

	let render;
	if (options.queryGpu !== undefined) {
		if (!options.format || !options.format.split(',').includes('csv')) {
			write(INVALID_ARGUMENTS);
			return 2;
		}

		const fields = options.queryGpu.split(',').map(field => field.trim()).filter(Boolean).map(field => ALIASES[field] ?? field);
		const unknown = options.queryGpu.split(',').map(field => field.trim()).find(field => !FIELDS[ALIASES[field] ?? field]);
		if (unknown !== undefined) {
			write(`Field "${unknown}" is not a valid field to query.\n\n`);
			return 2;
		}

		const formats = options.format.split(',').map(item => item.trim());
		let headerPending = !formats.includes('noheader');
		const units = !formats.includes('nounits');
		render = readings => {
			const text = csvBlock(fields, readings, {fleet, now: new Date()}, {header: headerPending, units});
			headerPending = false;
			return text;
		};
	} else if (options.list) {
		render = readings => readings.map(r => `GPU ${r.gpu.index}: ${r.gpu.name} (UUID: ${r.gpu.uuid})\n`
			+ r.gpu.mig.map(instance => `  MIG ${instance.profile.padEnd(9)} Device ${String(instance.index).padStart(2)}: (UUID: ${instance.uuid})\n`).join('')).join('');
	} else if (options.query && options.xml) {
		render = readings => smiXml(fleet, readings);
	} else if (options.query) {
		render = readings => readings.map(r => [
			'',
			`GPU ${r.gpu.pciBusId}`,
			`    Product Name                          : ${r.gpu.name}`,
			`    GPU UUID                              : ${r.gpu.uuid}`,
			'    FB Memory Usage',
			`        Total                             : ${r.gpu.memoryTotalMiB} MiB`,
			`        Reserved                          : ${r.gpu.reservedMiB} MiB`,
			`        Used                              : ${r.usedMiB} MiB`,
			`        Free                              : ${r.freeMiB} MiB`,
			'',
		].join('\n')).join('');
	} else {
		render = readings => table(fleet, readings);
	}

	const once = () => {
		const readings = selectGpus(liveReadings(fleet, env), options.idList);
		if (!readings) {
			write(NO_DEVICES);
			return false;
		}

		write(render(readings));
		return true;
	};

	if (!once()) {
		return 6;
	}

	if (options.loopMs === undefined) {
		return 0;
	}

	const interval = env.FAKE_NVIDIA_SMI_LOOP_MS ? Number(env.FAKE_NVIDIA_SMI_LOOP_MS) : options.loopMs;
	return new Promise(resolve => {
		const timer = setInterval(once, Math.max(10, interval));
		const stop = () => {
			clearInterval(timer);
			resolve(0);
		};

		process.on('SIGTERM', stop);
		process.on('SIGINT', stop);
	});
}
