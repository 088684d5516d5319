export function formatCount(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

export function formatMs(value: number): string {
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}

export function formatSeconds(value: number): string {
  return `${value.toFixed(1)} s`;
}

export function formatMiB(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

export function formatPercent(value: number): string {
  return `${Math.round(value)}%`;
}

/** Plain-text table with a header row, each column padded to its widest cell. */
export function formatTable(header: string[], rows: string[][], rightAligned: readonly number[] = []): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
  const line = (row: string[]) =>
    row
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return rightAligned.includes(column) ? cell.padStart(width) : cell.padEnd(width);
      })
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)].join("\n");
}
