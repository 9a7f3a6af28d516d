/** Schedules as people wrote them: the server keeps a cron expression only as a calendar spec. */

/**
 * A calendar spec (the server's form of a cron expression) printed in cron order, `*` for a whole range:
 * `0 2 * * *`, `30 3 * * MONDAY-FRIDAY`.
 */
export function calendarText(cal: object): string {
  const c = cal as Record<string, unknown>;
  const full: Record<string, [unknown, unknown]> = {
    second: [0, 59],
    minute: [0, 59],
    hour: [0, 23],
    dayOfMonth: [1, 31],
    month: ['JANUARY', 'DECEMBER'],
    dayOfWeek: ['SUNDAY', 'SATURDAY'],
  };
  const show = (f: string): string => {
    const v = c[f];
    if (!Array.isArray(v) || v.length === 0) return '*';
    return v
      .map((r: { start?: unknown; end?: unknown; step?: unknown }) => {
        const end = r.end ?? r.start;
        const step = r.step !== undefined && r.step !== 0 && r.step !== 1 ? `/${String(r.step)}` : '';
        if (full[f] && r.start === full[f]![0] && end === full[f]![1]) return `*${step}`;
        return `${String(r.start)}${end !== r.start ? `-${String(end)}` : ''}${step}`;
      })
      .join(',');
  };
  const fields = ['minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek'].map(show);
  const sec = show('second');
  return [...(sec !== '0' ? [sec] : []), ...fields].join(' ');
}
