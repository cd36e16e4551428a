/** The models view's "load a model" prompt: what was typed, the installed models, the highlighted match. */
export type LoadPrompt = {
	instanceId: string;
	text: string;
	/** From /api/tags; undefined while it is being read. */
	installed: string[] | undefined;
	/** Index into the matches; -1 when none is highlighted (Enter takes the text as typed). */
	choice: number;
};

export function openPrompt(instanceId: string): LoadPrompt {
	return {instanceId, text: '', installed: undefined, choice: -1};
}

/** Installed models that contain what was typed, those that start with it first. */
export function promptMatches(prompt: LoadPrompt): string[] {
	const typed = prompt.text.trim().toLowerCase();
	const all = prompt.installed ?? [];
	const starting = all.filter(name => name.toLowerCase().startsWith(typed));
	const containing = all.filter(name => !name.toLowerCase().startsWith(typed) && name.toLowerCase().includes(typed));
	return [...starting, ...containing];
}

/** The name Enter loads: the highlighted match, else the typed text. */
export function promptChoice(prompt: LoadPrompt): string {
	const matches = promptMatches(prompt);
	return prompt.choice >= 0 && prompt.choice < matches.length ? matches[prompt.choice]! : prompt.text.trim();
}

/** Tab: the longest prefix all matches share beyond what was typed, or the only match. */
export function completePrompt(prompt: LoadPrompt): LoadPrompt {
	const matches = promptMatches(prompt).filter(name => name.toLowerCase().startsWith(prompt.text.trim().toLowerCase()));
	if (matches.length === 0) {
		return prompt;
	}

	let common = matches[0]!;
	for (const name of matches.slice(1)) {
		let length = 0;
		while (length < common.length && length < name.length && common[length]!.toLowerCase() === name[length]!.toLowerCase()) {
			length++;
		}

		common = common.slice(0, length);
	}

	return common.length > prompt.text.length ? {...prompt, text: common, choice: -1} : {...prompt, choice: (prompt.choice + 1) % matches.length};
}

/** One key press in the prompt: typing, deleting, moving through the matches. */
export function editPrompt(prompt: LoadPrompt, input: string, key: {backspace?: boolean; delete?: boolean; upArrow?: boolean; downArrow?: boolean; tab?: boolean}): LoadPrompt {
	if (key.tab) {
		return completePrompt(prompt);
	}

	if (key.backspace || key.delete) {
		return {...prompt, text: prompt.text.slice(0, -1), choice: -1};
	}

	const count = promptMatches(prompt).length;
	if (key.downArrow && count > 0) {
		return {...prompt, choice: Math.min(count - 1, prompt.choice + 1)};
	}

	if (key.upArrow && count > 0) {
		return {...prompt, choice: Math.max(-1, prompt.choice - 1)};
	}

	// Printable characters only; a pasted name arrives as one input.
	const printable = [...input].filter(character => character >= ' ' && character !== '\u007F').join('');
	return printable === '' ? prompt : {...prompt, text: prompt.text + printable, choice: -1};
}
