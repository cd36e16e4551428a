import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

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
