import React from 'react';
import {Lines} from './Lines.js';
import {promptMatches, type LoadPrompt} from './load-prompt.js';
import {fitLine, pickFields, type Line} from './segments.js';

/** The prompt on two lines: what is typed, then the installed models that match, the highlighted one inverse. */
export function loadPromptLines(prompt: LoadPrompt, width: number): Line[] {
	const keys: Line = [{text: '  Tab', bold: true, colour: 'cyan'}, {text: ' complete  ', dim: true}, {text: '↑↓', bold: true, colour: 'cyan'}, {text: ' choose  ', dim: true}, {text: 'Enter', bold: true, colour: 'cyan'}, {text: ' load  ', dim: true}, {text: 'Esc', bold: true, colour: 'cyan'}, {text: ' cancel', dim: true}];
	const typed: Line = [{text: ` Load on ${prompt.instanceId}: `, bold: true, colour: 'yellow', inverse: true}, {text: ` ${prompt.text}`}, {text: '█', colour: 'cyan'}];
	const matches = promptMatches(prompt);
	const list: Line = prompt.installed === undefined
		? [{text: 'reading the installed models…', dim: true}]
		: matches.length === 0
			? [{text: prompt.installed.length === 0 ? 'no installed model known; type its name' : 'no installed model matches; Enter loads it as typed', dim: true}]
			: pickFields(matches.slice(0, 30).map((name, index) => ({priority: 30 - index, line: [{text: name, inverse: index === prompt.choice, colour: index === prompt.choice ? 'cyan' as const : undefined}]})), width - 2, 2);
	return [fitLine([...typed, ...keys], width), fitLine([{text: '  '}, ...list], width)];
}

export function LoadPromptLine({prompt, width}: {prompt: LoadPrompt; width: number}) {
	return <Lines lines={loadPromptLines(prompt, width)} />;
}
