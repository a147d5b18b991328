/** The options every subcommand inherits, and parsing of arguments shared by the editing commands (nodes, groups, settings). */

/** Options every subcommand inherits (`--data`, `--server`). */
export interface GlobalOptions {
  data: string;
  server?: string;
}

/** "-" means "clear this field" (null: inherit the group's or the global setting); anything else is the value. */
export function clearable(raw: string): string | null {
  return raw === '-' ? null : raw;
}

/** A comma-separated list ("/data,/srv"), trimmed, empty items dropped; "-" clears it (null). */
export function clearableList(raw: string): string[] | null {
  if (raw === '-') return null;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
