/** MAC addresses as imgsrv writes them everywhere: lowercase, colon-separated. */

/** Normalise `AA-BB-…`, `aa:bb:…` or `aabb.ccdd.eeff` to `aa:bb:cc:dd:ee:ff`; undefined when it isn't a MAC. */
export function normalizeMac(mac: string): string | undefined {
  const hex = mac.toLowerCase().replace(/[-:.]/g, '');
  if (!/^[0-9a-f]{12}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}
