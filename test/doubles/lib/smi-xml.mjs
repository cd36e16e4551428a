// `nvidia-smi -q -x` output in the v13 schema, element names and order as in the real capture
// qx__rtx-3080__1gpu__drv595.58.03__dtd-v13.xml.

const NA = 'N/A';
const DEPRECATED = 'Requested functionality has been deprecated';

function escapeXml(text) {
	return String(text).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** node = [name, text] | [name, children[]] ; an empty children array prints as an open/close pair. */
function render(node, depth) {
	const [name, content, attributes] = node;
	const indent = '\t'.repeat(depth);
	const attributeText = attributes ? Object.entries(attributes).map(([key, value]) => ` ${key}="${escapeXml(value)}"`).join('') : '';
	if (Array.isArray(content)) {
		const inner = content.map(child => render(child, depth + 1)).join('');
		return `${indent}<${name}${attributeText}>\n${inner}${indent}</${name}>\n`;
	}

	return `${indent}<${name}${attributeText}>${escapeXml(content)}</${name}>\n`;
}

function ctime(date) {
	const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
	const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
	const pad = value => String(value).padStart(2, '0');
	return `${days[date.getDay()]} ${months[date.getMonth()]} ${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${date.getFullYear()}`;
}

function watts(value) {
	return `${value.toFixed(2)} W`;
}

function naOr(gpu, field, text) {
	return gpu.unsupported.includes(field) ? NA : text;
}

// The element layout of a MIG instance as drivers 525+ print it.
function migDevice(instance, usedMiB) {
	return ['mig_device', [
		['index', String(instance.index)],
		['gpu_instance_id', String(instance.gpuInstanceId)],
		['compute_instance_id', String(instance.computeInstanceId)],
		['device_attributes', [['shared', [
			['multiprocessor_count', '42'], ['copy_engine_count', '3'], ['encoder_count', '0'],
			['decoder_count', '2'], ['ofa_count', '0'], ['jpg_count', '0'],
		]]]],
		['ecc_error_count', [['volatile_count', [['sram_uncorrectable', '0']]]]],
		['fb_memory_usage', [
			['total', `${instance.memoryTotalMiB} MiB`],
			['reserved', '0 MiB'],
			['used', `${usedMiB} MiB`],
			['free', `${instance.memoryTotalMiB - usedMiB} MiB`],
		]],
		['bar1_memory_usage', [['total', '32767 MiB'], ['used', '0 MiB'], ['free', '32767 MiB']]],
	]];
}

function gpuElement(reading, driverVersion) {
	const {gpu} = reading;
	const [, busHex = '01'] = /^[0-9A-Fa-f]+:([0-9A-Fa-f]{2}):/.exec(gpu.pciBusId) ?? [];
	const graphicsClocks = [2100, 1950, 1800, 1500, 1200, 900, 600, 300, 210];
	const supportedClock = memory => ['supported_mem_clock', [
		['value', `${memory} MHz`],
		...graphicsClocks.map(clock => ['supported_graphics_clock', `${clock} MHz`]),
	]];
	const powerDraw = naOr(gpu, 'power.draw', watts(reading.powerDrawW));
	const limit = watts(gpu.powerLimitW);
	const children = [
		['product_name', gpu.name],
		['product_brand', gpu.brand],
		['product_architecture', gpu.architecture],
		['display_mode', DEPRECATED],
		['display_attached', 'No'],
		['display_active', 'Disabled'],
		['persistence_mode', 'Enabled'],
		['addressing_mode', 'HMM'],
		['mig_mode', gpu.mig.length > 0 ? [['current_mig', 'Enabled'], ['pending_mig', 'Enabled']] : [['current_mig', NA], ['pending_mig', NA]]],
		gpu.mig.length > 0 ? ['mig_devices', gpu.mig.map(instance => migDevice(instance, reading.migUsedMiB(instance)))] : ['mig_devices', '\n\t\t\tNone\n\t\t'],
		['accounting_mode', 'Disabled'],
		['accounting_mode_buffer_size', '4000'],
		['driver_model', [['current_dm', NA], ['pending_dm', NA]]],
		['serial', NA],
		['uuid', gpu.uuid],
		['pdi', `0x${gpu.uuid.replaceAll('-', '').slice(3, 19)}`],
		['minor_number', String(gpu.index)],
		['vbios_version', '94.02.71.40.72'],
		['multigpu_board', 'No'],
		['board_id', `0x${busHex.toLowerCase()}00`],
		['board_part_number', NA],
		['gpu_part_number', NA],
		['gpu_fru_part_number', NA],
		['platformInfo', [
			['chassis_serial_number', NA], ['slot_number', NA], ['tray_index', NA], ['host_id', NA],
			['peer_type', NA], ['module_id', '1'], ['gpu_fabric_guid', NA],
		]],
		['inforom_version', [['img_version', 'G001.0000.03.03'], ['oem_object', '2.0'], ['ecc_object', NA], ['pwr_object', NA]]],
		['inforom_bbx_flush', [['latest_timestamp', NA], ['latest_duration', NA]]],
		['gpu_operation_mode', [['current_gom', NA], ['pending_gom', NA]]],
		['c2c_mode', NA],
		['gpu_virtualization_mode', [['virtualization_mode', 'None'], ['host_vgpu_mode', NA], ['vgpu_heterogeneous_mode', NA]]],
		['gpu_recovery_action', 'None'],
		['gsp_firmware_version', driverVersion],
		['ibmnpu', [['relaxed_ordering_mode', NA]]],
		['pci', [
			['pci_bus', busHex.toUpperCase()],
			['pci_device', '00'],
			['pci_domain', '0000'],
			['pci_base_class', '3'],
			['pci_sub_class', '0'],
			['pci_device_id', '220410DE'],
			['pci_bus_id', gpu.pciBusId],
			['pci_sub_system_id', '00000000'],
			['pci_gpu_link_info', [
				['pcie_gen', [
					['max_link_gen', '4'], ['current_link_gen', '4'], ['device_current_link_gen', '4'],
					['max_device_link_gen', '4'], ['max_host_link_gen', '4'],
				]],
				['link_widths', [['max_link_width', '16x'], ['current_link_width', '16x']]],
			]],
			['pci_bridge_chip', [['bridge_chip_type', NA], ['bridge_chip_fw', NA]]],
			['replay_counter', '0'],
			['replay_rollover_counter', '0'],
			['tx_util', '0 KB/s'],
			['rx_util', '0 KB/s'],
			['atomic_caps_outbound', NA],
			['atomic_caps_inbound', NA],
		]],
		['fan_speed', `${reading.fanPercent} %`],
		['performance_state', reading.pstate],
		['clocks_event_reasons', [
			['clocks_event_reason_gpu_idle', reading.utilization === 0 ? 'Active' : 'Not Active'],
			['clocks_event_reason_applications_clocks_setting', 'Not Active'],
			['clocks_event_reason_sw_power_cap', 'Not Active'],
			['clocks_event_reason_hw_slowdown', 'Not Active'],
			['clocks_event_reason_hw_thermal_slowdown', 'Not Active'],
			['clocks_event_reason_hw_power_brake_slowdown', 'Not Active'],
			['clocks_event_reason_sync_boost', 'Not Active'],
			['clocks_event_reason_sw_thermal_slowdown', 'Not Active'],
			['clocks_event_reason_display_clocks_setting', 'Not Active'],
		]],
		['clocks_event_reasons_counters', [
			['clocks_event_reasons_counters_sw_power_cap', '0 us'],
			['clocks_event_reasons_counters_sync_boost', '0 us'],
			['clocks_event_reasons_counters_sw_therm_slowdown', '0 us'],
			['clocks_event_reasons_counters_hw_therm_slowdown', '0 us'],
			['clocks_event_reasons_counters_hw_power_brake', '0 us'],
		]],
		['sparse_operation_mode', NA],
		['fb_memory_usage', [
			['total', `${gpu.memoryTotalMiB} MiB`],
			['reserved', `${gpu.reservedMiB} MiB`],
			['used', naOr(gpu, 'memory.used', `${reading.usedMiB} MiB`)],
			['free', naOr(gpu, 'memory.free', `${reading.freeMiB} MiB`)],
		]],
		['bar1_memory_usage', [['total', '256 MiB'], ['used', '5 MiB'], ['free', '251 MiB']]],
		['cc_protected_memory_usage', [['total', '0 MiB'], ['used', '0 MiB'], ['free', '0 MiB']]],
		['compute_mode', 'Default'],
		['utilization', [
			['gpu_util', naOr(gpu, 'utilization.gpu', `${reading.utilization} %`)],
			['memory_util', naOr(gpu, 'utilization.memory', `${reading.memoryUtilization} %`)],
			['encoder_util', '0 %'],
			['decoder_util', '0 %'],
			['jpeg_util', '0 %'],
			['ofa_util', '0 %'],
		]],
		['encoder_stats', [['session_count', '0'], ['average_fps', '0'], ['average_latency', '0']]],
		['fbc_stats', [['session_count', '0'], ['average_fps', '0'], ['average_latency', '0']]],
		['dram_encryption_mode', [['current_dram_encryption', NA], ['pending_dram_encryption', NA]]],
		['ecc_mode', [['current_ecc', NA], ['pending_ecc', NA]]],
		['ecc_errors', [
			['volatile', [
				['sram_correctable', NA], ['sram_uncorrectable_parity', NA], ['sram_uncorrectable_secded', NA],
				['dram_correctable', NA], ['dram_uncorrectable', NA],
			]],
			['aggregate', [
				['sram_correctable', NA], ['sram_uncorrectable_parity', NA], ['sram_uncorrectable_secded', NA],
				['dram_correctable', NA], ['dram_uncorrectable', NA], ['sram_threshold_exceeded', NA],
			]],
			['aggregate_uncorrectable_sram_sources', [
				['sram_l2', NA], ['sram_sm', NA], ['sram_microcontroller', NA], ['sram_pcie', NA], ['sram_other', NA],
			]],
			['channel_repair_pending', 'No'],
			['tpc_repair_pending', 'No'],
			['unrepairable_memory', NA],
		]],
		['retired_pages', [
			['multiple_single_bit_retirement', [['retired_count', NA], ['retired_pagelist', NA]]],
			['double_bit_retirement', [['retired_count', NA], ['retired_pagelist', NA]]],
			['pending_blacklist', NA],
			['pending_retirement', NA],
		]],
		['remapped_rows', NA],
		['temperature', [
			['gpu_temp', naOr(gpu, 'temperature.gpu', `${reading.temperatureC} C`)],
			['gpu_temp_tlimit', NA],
			['gpu_temp_max_threshold', '98 C'],
			['gpu_temp_slow_threshold', '95 C'],
			['gpu_temp_max_gpu_threshold', '93 C'],
			['gpu_target_temperature', '83 C'],
			['memory_temp', NA],
			['gpu_temp_max_mem_threshold', NA],
		]],
		['supported_gpu_target_temp', [['gpu_target_temp_min', '65 C'], ['gpu_target_temp_max', '91 C']]],
		['gpu_power_readings', [
			['power_state', DEPRECATED],
			['average_power_draw', powerDraw],
			['instant_power_draw', powerDraw],
			['current_power_limit', naOr(gpu, 'power.limit', limit)],
			['requested_power_limit', naOr(gpu, 'power.limit', limit)],
			['default_power_limit', naOr(gpu, 'power.limit', limit)],
			['min_power_limit', watts(Math.round(gpu.powerLimitW * 0.3))],
			['max_power_limit', watts(Math.round(gpu.powerLimitW * 1.05))],
		]],
		['gpu_memory_power_readings', [['average_power_draw', NA], ['instant_power_draw', NA]]],
		['module_power_readings', [
			['power_state', DEPRECATED], ['average_power_draw', NA], ['instant_power_draw', NA],
			['current_power_limit', NA], ['requested_power_limit', NA], ['default_power_limit', NA],
			['min_power_limit', NA], ['max_power_limit', NA],
		]],
		['power_smoothing', NA],
		['power_profiles', [['power_profile_requested_profiles', NA], ['power_profile_enforced_profiles', NA]]],
		['edpp_multiplier', NA],
		['clocks', [
			['graphics_clock', `${reading.smClockMHz} MHz`],
			['sm_clock', `${reading.smClockMHz} MHz`],
			['mem_clock', `${reading.memClockMHz} MHz`],
			['video_clock', `${Math.round(reading.smClockMHz * 0.88)} MHz`],
		]],
		['applications_clocks', [['graphics_clock', DEPRECATED], ['mem_clock', DEPRECATED]]],
		['default_applications_clocks', [['graphics_clock', DEPRECATED], ['mem_clock', DEPRECATED]]],
		['deferred_clocks', [['mem_clock', NA]]],
		['max_clocks', [['graphics_clock', '2100 MHz'], ['sm_clock', '2100 MHz'], ['mem_clock', '9501 MHz'], ['video_clock', '1950 MHz']]],
		['max_customer_boost_clocks', [['graphics_clock', NA]]],
		['clock_policy', [['auto_boost', NA], ['auto_boost_default', NA]]],
		['fabric', [
			['state', NA], ['status', NA], ['cliqueId', NA], ['clusterUuid', NA],
			['health', [
				['summary', NA], ['bandwidth', NA], ['route_recovery_in_progress', NA], ['route_unhealthy', NA],
				['access_timeout_recovery', NA], ['incorrect_configuration', NA], ['partition_assigned', NA],
			]],
		]],
		['supported_clocks', [supportedClock(9501), supportedClock(810), supportedClock(405)]],
		['processes', reading.processes.map(process => ['process_info', [
			['gpu_instance_id', NA],
			['compute_instance_id', NA],
			['pid', String(process.pid)],
			['type', process.type],
			['process_name', process.name],
			['used_memory', `${process.usedMemoryMiB} MiB`],
		]])],
		['accounted_processes', []],
		['capabilities', [['egm', 'disabled']]],
	];
	return render(['gpu', children, {id: gpu.pciBusId}], 1);
}

export function smiXml(fleet, readings, now = new Date()) {
	const header = [
		'<?xml version="1.0" ?>',
		'<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v13.dtd">',
		'<nvidia_smi_log>',
		`\t<timestamp>${ctime(now)}</timestamp>`,
		`\t<driver_version>${fleet.driverVersion}</driver_version>`,
		`\t<cuda_version>${fleet.cudaVersion}</cuda_version>`,
		`\t<attached_gpus>${fleet.gpus.length}</attached_gpus>`,
	].join('\n');
	const gpus = readings.map(reading => gpuElement(reading, fleet.driverVersion)).join('\n');
	return `${header}\n${gpus}\n</nvidia_smi_log>\n`;
}
