import assert from 'node:assert/strict';
import path from 'node:path';
import {describe, it} from 'node:test';
import {ESLint} from 'eslint';

const root = path.resolve(import.meta.dirname, '..');
const eslint = new ESLint({cwd: root});

/** The layer rule's messages for `code` placed at `file` (a path under source/ that need not exist). */
async function layerErrors(file: string, code: string): Promise<string[]> {
	const [result] = await eslint.lintText(code, {filePath: path.join(root, file)});
	return result!.messages.filter(message => message.ruleId === 'house/layers').map(message => message.message);
}

describe('the lint keeps source/ layered', () => {
	it('refuses an import that runs up a layer', async () => {
		const errors = await layerErrors('source/gpu/example.ts', "import {OllamaProxy} from '../proxy/proxy-server.js';\nexport const x = OllamaProxy;\n");
		assert.equal(errors.length, 1);
		assert.match(errors[0]!, /gpu\/ is below proxy\//);
	});

	it('refuses a dynamic import up a layer and a sibling on the same layer', async () => {
		assert.equal((await layerErrors('source/scheduler/example.ts', "export const load = async () => import('../proxy/lanes.js');\n")).length, 1);
		const sibling = await layerErrors('source/ui/example.ts', "import {createControlRoutes} from '../control/control-routes.js';\nexport const x = createControlRoutes;\n");
		assert.match(sibling[0]!, /one layer/);
	});

	it('allows its own folder and the layers below', async () => {
		const code = "import {normalizeModelName} from '../ollama/model-name.js';\nimport {Estimator} from './estimator.js';\nexport const x = [normalizeModelName, Estimator];\n";
		assert.deepEqual(await layerErrors('source/scheduler/example.ts', code), []);
	});

	it('names a folder that is in no layer', async () => {
		const errors = await layerErrors('source/newthing/example.ts', "import {isRecord} from '../shared/is-record.js';\nexport const x = isRecord;\n");
		assert.match(errors[0]!, /newthing is not a layer/);
	});
});
