/**
 * Byte counts for people, in one of two styles. `prose`, for messages, the UI's details and activity summaries:
 * "512 bytes", "512.0 KiB", "2.1 GiB". `column`, for the CLI's tables and progress lines: "512 B", "512 KiB", "1.0 MiB".
 * Pure: used by workflow code, activities and the client alike.
 */
export function formatBytes(bytes: number, style: 'prose' | 'column' = 'prose'): string {
  const units = ['', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return style === 'prose' ? `${bytes} bytes` : `${bytes} B`;
  return `${v.toFixed(style === 'column' && v >= 100 ? 0 : 1)} ${units[i]}`;
}
