// The text/event-stream reading both pages' inline scripts share (jobs-page.ts, job-detail-page.ts): plain ES2020
// source interpolated into each script, so the jobs list and a job's page read a job's events the same way.

/** `parseEvent(block)`: the event of one block (event, id, data lines), or null for a comment (a heartbeat). */
export const PARSE_EVENT_SCRIPT = `
  function parseEvent(block) {
    var ev = { event: 'message', id: null, data: [] };
    block.split(/\\r?\\n/).forEach(function (line) {
      if (!line || line[0] === ':') return;
      var at = line.indexOf(':'), field = at < 0 ? line : line.slice(0, at), value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
      if (field === 'event') ev.event = value; else if (field === 'id') ev.id = value; else if (field === 'data') ev.data.push(value);
    });
    return ev.data.length ? ev : null;
  }`;
