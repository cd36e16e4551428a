/**
 * The InferencePool's schema, written from the published CRD: kubernetes-sigs/gateway-api-inference-extension,
 * config/crd/bases/inference.networking.k8s.io_inferencepools.yaml at tag v1.6.0 (bundle-version v1.6.0; served
 * and stored version v1). No npm package ships it. Each rule below names the CRD field it comes from; a field the
 * CRD does not know is refused, as `kubectl apply` (strict field validation) refuses it.
 * Returns the problems found; none means the object is valid.
 */

type Value = unknown;

const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const groupPattern = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const kindPattern = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function isObject(value: Value): value is Record<string, Value> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unknownFields(at: string, object: Record<string, Value>, known: string[], problems: string[]): void {
	for (const key of Object.keys(object)) {
		if (!known.includes(key)) {
			problems.push(`${at}.${key}: unknown field`);
		}
	}
}

function portNumber(at: string, port: Value, problems: string[]): number | undefined {
	if (!isObject(port)) {
		problems.push(`${at}: must be an object`);
		return undefined;
	}

	unknownFields(at, port, ['number'], problems);
	const number = port['number'];
	// Port.number: required, integer (int32), minimum 1, maximum 65535.
	if (!Number.isInteger(number) || (number as number) < 1 || (number as number) > 65_535) {
		problems.push(`${at}.number: required, an integer from 1 to 65535 (got ${JSON.stringify(number)})`);
		return undefined;
	}

	return number as number;
}

export function inferencePoolProblems(object: Record<string, Value>): string[] {
	const problems: string[] = [];
	if (object['apiVersion'] !== 'inference.networking.k8s.io/v1' || object['kind'] !== 'InferencePool') {
		problems.push(`apiVersion/kind: inference.networking.k8s.io/v1 InferencePool (got ${String(object['apiVersion'])} ${String(object['kind'])})`);
	}

	unknownFields('', object, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], problems);
	const metadata = object['metadata'];
	const name = isObject(metadata) ? metadata['name'] : undefined;
	if (typeof name !== 'string' || name.length > 253 || !dnsSubdomain.test(name)) {
		problems.push(`metadata.name: a DNS subdomain (got ${JSON.stringify(name)})`);
	}

	const spec = object['spec'];
	if (!isObject(spec)) {
		problems.push('spec: required');
		return problems;
	}

	// spec: required [selector, targetPorts]; properties appProtocol, endpointPickerRef, selector, targetPorts.
	unknownFields('spec', spec, ['selector', 'targetPorts', 'appProtocol', 'endpointPickerRef'], problems);

	// spec.selector: required [matchLabels]; matchLabels minProperties 1, maxProperties 64; each value a LabelValue.
	const selector = spec['selector'];
	if (isObject(selector)) {
		unknownFields('spec.selector', selector, ['matchLabels'], problems);
		const matchLabels = selector['matchLabels'];
		if (isObject(matchLabels)) {
			const count = Object.keys(matchLabels).length;
			if (count < 1 || count > 64) {
				problems.push(`spec.selector.matchLabels: 1 to 64 labels (got ${count})`);
			}

			for (const [key, value] of Object.entries(matchLabels)) {
				if (typeof value !== 'string' || value.length > 63 || !labelValue.test(value)) {
					problems.push(`spec.selector.matchLabels.${key}: a label value, at most 63 characters (got ${JSON.stringify(value)})`);
				}
			}
		} else {
			problems.push('spec.selector.matchLabels: required');
		}
	} else {
		problems.push('spec.selector: required');
	}

	// spec.targetPorts: required, minItems 1, maxItems 8; rule: port number must be unique.
	const targetPorts = spec['targetPorts'];
	if (Array.isArray(targetPorts)) {
		if (targetPorts.length < 1 || targetPorts.length > 8) {
			problems.push(`spec.targetPorts: 1 to 8 ports (got ${targetPorts.length})`);
		}

		const numbers = targetPorts.map((port, index) => portNumber(`spec.targetPorts[${index}]`, port, problems));
		if (new Set(numbers).size !== numbers.length) {
			problems.push('spec.targetPorts: port number must be unique');
		}
	} else {
		problems.push('spec.targetPorts: required');
	}

	// spec.appProtocol: enum [http, kubernetes.io/h2c], default http.
	if (spec['appProtocol'] !== undefined && !['http', 'kubernetes.io/h2c'].includes(spec['appProtocol'] as string)) {
		problems.push(`spec.appProtocol: http or kubernetes.io/h2c (got ${JSON.stringify(spec['appProtocol'])})`);
	}

	// spec.endpointPickerRef: required [name]; group (0-253, pattern), kind (1-63, pattern, default Service),
	// name (1-253), port (Port), failureMode (enum, default FailClose); rule: kind != 'Service' || has(port).
	const picker = spec['endpointPickerRef'];
	if (picker !== undefined) {
		if (isObject(picker)) {
			unknownFields('spec.endpointPickerRef', picker, ['group', 'kind', 'name', 'port', 'failureMode'], problems);
			const pickerName = picker['name'];
			if (typeof pickerName !== 'string' || pickerName.length < 1 || pickerName.length > 253) {
				problems.push(`spec.endpointPickerRef.name: required, 1 to 253 characters (got ${JSON.stringify(pickerName)})`);
			}

			const group = picker['group'] ?? '';
			if (typeof group !== 'string' || group.length > 253 || !groupPattern.test(group)) {
				problems.push(`spec.endpointPickerRef.group: an API group (got ${JSON.stringify(group)})`);
			}

			const kind = picker['kind'] ?? 'Service';
			if (typeof kind !== 'string' || kind.length < 1 || kind.length > 63 || !kindPattern.test(kind)) {
				problems.push(`spec.endpointPickerRef.kind: a kind (got ${JSON.stringify(kind)})`);
			}

			if (picker['port'] !== undefined) {
				portNumber('spec.endpointPickerRef.port', picker['port'], problems);
			}

			if (kind === 'Service' && picker['port'] === undefined) {
				problems.push("spec.endpointPickerRef: port is required when kind is 'Service' or unspecified (defaults to 'Service')");
			}

			if (picker['failureMode'] !== undefined && !['FailOpen', 'FailClose'].includes(picker['failureMode'] as string)) {
				problems.push(`spec.endpointPickerRef.failureMode: FailOpen or FailClose (got ${JSON.stringify(picker['failureMode'])})`);
			}
		} else {
			problems.push('spec.endpointPickerRef: must be an object');
		}
	}

	return problems;
}
