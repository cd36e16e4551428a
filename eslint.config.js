import path from 'node:path';
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The folders of source/ as layers, bottom to top (the readme's Development section says what each holds). A file
 * may import from its own folder and from the layers below it; never from a layer above, nor from another folder of
 * its own layer.
 */
export const layers = [
	['shared'],
	['ollama'],
	['gpu'],
	['supervisor'],
	['upstream'],
	['scheduler'],
	['proxy'],
	['fleet'],
	['control', 'ui'],
	['client'],
	['commands'],
	['cli'],
	['bin'],
];

const sourceRoot = path.resolve(import.meta.dirname, 'source');
const rankOf = new Map(layers.flatMap((names, rank) => names.map(name => [name, rank])));

/** The top folder of source/ a path lies in (or a top-level file's name, cli or bin), or undefined outside source/. */
function roomOf(file) {
	const relative = path.relative(sourceRoot, file);
	if (relative.startsWith('..') || path.isAbsolute(relative)) {
		return undefined;
	}

	const parts = relative.split(path.sep);
	return parts.length === 1 ? parts[0].replace(/\.[jt]sx?$/, '') : parts[0];
}

const layerRule = {
	meta: {type: 'problem', messages: {
		up: '{{from}}/ is below {{to}}/: an import may not run up a layer (the order is in eslint.config.js and the readme).',
		sibling: '{{from}}/ and {{to}}/ are one layer: neither imports the other.',
		unknown: '{{to}} is not a layer: add it to the layers in eslint.config.js.',
	}},
	create(context) {
		const from = roomOf(context.filename);
		if (from === undefined) {
			return {};
		}

		const check = (node, specifier) => {
			if (typeof specifier !== 'string' || !specifier.startsWith('.')) {
				return;
			}

			const to = roomOf(path.resolve(path.dirname(context.filename), specifier));
			if (to === undefined || to === from) {
				return;
			}

			const [fromRank, toRank] = [rankOf.get(from), rankOf.get(to)];
			if (fromRank === undefined || toRank === undefined) {
				context.report({node, messageId: 'unknown', data: {to: fromRank === undefined ? from : to}});
			} else if (toRank > fromRank) {
				context.report({node, messageId: 'up', data: {from, to}});
			} else if (toRank === fromRank) {
				context.report({node, messageId: 'sibling', data: {from, to}});
			}
		};

		return {
			ImportDeclaration: node => check(node, node.source.value),
			ExportNamedDeclaration: node => check(node, node.source?.value),
			ExportAllDeclaration: node => check(node, node.source.value),
			ImportExpression: node => check(node, node.source.type === 'Literal' ? node.source.value : undefined),
		};
	},
};

export default tseslint.config(
	{ignores: ['dist/', 'node_modules/', '.state/', 'test/fixtures/']},
	js.configs.recommended,
	...tseslint.configs.recommended,
	{
		languageOptions: {globals: {...globals.node}},
		rules: {
			'no-unused-vars': 'off',
			'@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none'}],
			'@typescript-eslint/consistent-type-imports': ['error', {fixStyle: 'inline-type-imports'}],
			eqeqeq: ['error', 'always'],
			'no-var': 'error',
			'prefer-const': 'error',
			'no-console': 'off',
			'no-empty': ['error', {allowEmptyCatch: true}],
		},
	},
	{
		files: ['source/**/*.{ts,tsx}'],
		plugins: {house: {rules: {layers: layerRule}}},
		rules: {'house/layers': 'error'},
	},
	{
		files: ['source/ui/**/*.{ts,tsx}'],
		plugins: {'react-hooks': reactHooks},
		rules: {
			'react-hooks/rules-of-hooks': 'error',
			'react-hooks/exhaustive-deps': 'error',
		},
	},
	{
		// Tests poke at parsed XML and JSON whose shape they assert.
		files: ['test/**/*.{ts,tsx}'],
		rules: {'@typescript-eslint/no-explicit-any': 'off'},
	},
	{
		// The doubles are plain CommonJS/ESM scripts that stand in for real binaries.
		files: ['test/doubles/**/*.{js,mjs,cjs}', 'test/doubles/bin/*'],
		languageOptions: {globals: {...globals.node}},
		rules: {'@typescript-eslint/no-require-imports': 'off'},
	},
);
