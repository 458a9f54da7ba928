/** A lifetime the gateway gives in seconds (CACHE_TTL_SECONDS), as people say it: "a day", "6 hours". */
export function spokenDuration(seconds: number): string {
  const units: [number, string][] = [
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
    [1, "second"],
  ];
  for (const [size, name] of units) {
    if (seconds >= size && (seconds % size === 0 || size === 1 || seconds >= 2 * size)) {
      const count = Math.round(seconds / size);
      const said = count === 1 ? `a ${name}` : `${count} ${name}s`;
      return seconds % size === 0 ? said : `about ${said}`;
    }
  }
  return `${seconds} seconds`;
}
