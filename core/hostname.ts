/**
 * Hostnames as a node takes them (RFC 1123 labels) and the patterns the
 * server expands into suggestions. One rule for both sides: the node refuses
 * a bad name before it writes it, and the server refuses a pattern that can
 * only produce bad names when it is set, not after every unattended node
 * has downloaded its whole image.
 */

/** Why a hostname is not acceptable (RFC 1123 labels, at most 63 characters each, 253 in all), or undefined when it is. */
export function hostnameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the hostname is empty';
  if (name.length > 253) return 'the hostname is longer than 253 characters';
  for (const label of name.split('.')) {
    if (label.length === 0) return 'the hostname has an empty label (two dots, or a dot at either end)';
    if (label.length > 63) return `"${label}" is longer than 63 characters`;
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i.test(label)) return `"${label}" may contain only letters, digits and "-", and not start or end with "-"`;
  }
  return undefined;
}

/** Expand a hostname pattern: {n} the node's sequence number, {mac} its MAC without separators; lowercase. */
export function expandHostnamePattern(pattern: string, seq: number, mac: string): string {
  return pattern.replaceAll('{n}', String(seq)).replaceAll('{mac}', mac.replaceAll(':', '')).toLowerCase();
}

/** Why a pattern can give a bad hostname (checked at the first and a large sequence number), or undefined when every expansion is good. */
export function hostnamePatternProblem(pattern: string): string | undefined {
  const rest = pattern.replaceAll('{n}', '').replaceAll('{mac}', '');
  if (/[{}]/.test(rest)) return 'the only placeholders are {n} and {mac}';
  for (const seq of [1, 999_999]) {
    const name = expandHostnamePattern(pattern, seq, '52:54:00:ab:cd:ef');
    const problem = hostnameProblem(name);
    if (problem) return `it gives "${name}", and ${problem}`;
  }
  return undefined;
}
