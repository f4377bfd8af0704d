/**
 * A scripted model server on 127.0.0.1 that plays the model for the real agent CLIs, offline. It speaks only what
 * the four CLIs need, picked by the request path:
 *   Anthropic Messages  POST /v1/messages (SSE when stream: true)               — Claude Code
 *   OpenAI Responses    POST /v1/responses (SSE)                                 — Codex
 *   Chat Completions    POST /v1/chat/completions (SSE + a usage-only chunk)     — opencode
 *   Gemini              POST /v1beta/models/<m>:streamGenerateContent?alt=sse, :generateContent, :countTokens
 *
 * The script (`server.scenario`) is simple: when a request offers the CLI's file-writing tool and carries no tool
 * result yet, answer with a call writing `scenario.write.path` (or, with `scenario.bash`, a call of the CLI's shell
 * tool running that command); once a tool result is present (or when nothing is to be written), answer with
 * `scenario.finalText`. `scenario.error = { status, message, headers }` answers every
 * model request with that API error instead. Requests without tools (titles, classifiers) get a short text.
 *
 * Bounded: at most `maxRequests` model requests (then 503 and `server.overLimit` set) and `maxSeconds` of life (then
 * it closes itself), so a CLI looping on retries cannot hang a test.
 */
'use strict';
const http = require('node:http');

const USAGE = { input: 1200, cached: 200, output: 80 };

function startModelServer({ maxRequests = 60, maxSeconds = 300, scenario = {} } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let json;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const url = new URL(req.url, 'http://127.0.0.1');
      const isModelCall = req.method === 'POST' && /\/(messages|responses|chat\/completions)$|:(stream)?generateContent$/i.test(url.pathname);
      if (isModelCall) {
        requests.push({ at: Date.now(), method: req.method, path: url.pathname, headers: req.headers, body: json, raw: body });
        if (requests.length > maxRequests) {
          api.overLimit = true;
          return send(res, 503, { error: { message: `scripted model server: more than ${maxRequests} requests` } });
        }
      }
      try {
        route(req, res, url, json, isModelCall ? pickScenario(api.scenario, body, json) : {});
      } catch (e) {
        send(res, 500, { error: { message: `scripted model server bug: ${e && e.message}` } });
      }
    });
  });
  const api = {
    scenario,
    requests,
    overLimit: false,
    port: 0,
    url: '',
    close: () => new Promise((resolve) => { clearTimeout(timer); server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
  const timer = setTimeout(() => api.close(), maxSeconds * 1000);
  timer.unref();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      api.port = server.address().port;
      api.url = `http://127.0.0.1:${api.port}`;
      resolve(api);
    });
  });
}

/**
 * The scenario for one request: `scenario.byTask[id]` when the request mentions that task id (every model request of
 * a task carries its prompt), else the scenario itself. `errorTimes: n` answers only the first n requests with
 * `error`, `errorForMs: ms` only those within ms of the first; `error.headers` and `error.extra` may be functions,
 * evaluated per request (reset times relative to "now": a CLI slow to start on a loaded machine must not receive a
 * "resets in" computed before it asked).
 */
function pickScenario(scenario, rawBody, body) {
  const hasTools = Array.isArray(body?.tools) && body.tools.length > 0;
  let s = scenario;
  for (const [id, sc] of Object.entries(scenario.byTask ?? {})) if (rawBody.includes(id)) s = sc;
  if (s.error && s.errorTimes !== undefined) {
    s.errorsSent = s.errorsSent ?? 0;
    if (s.errorsSent >= s.errorTimes) return { ...s, error: undefined };
    s.errorsSent++;
  }
  // A limit that lasts `errorForMs` from the first refused request offering tools (the agent's own call; a side call
  // such as opencode's title, seconds earlier on a loaded machine, must not start the clock), as a real quota does:
  // a CLI retrying on its own keeps hitting it, whatever the number of its retries.
  if (s.error && s.errorForMs !== undefined) {
    if (s.errorSince === undefined && hasTools) s.errorSince = Date.now();
    if (s.errorSince !== undefined && Date.now() >= s.errorSince + s.errorForMs) return { ...s, error: undefined };
  }
  if (s.error && (typeof s.error.headers === 'function' || typeof s.error.extra === 'function')) {
    const { headers, extra } = s.error;
    return { ...s, error: { ...s.error, headers: typeof headers === 'function' ? headers() : headers, extra: typeof extra === 'function' ? extra() : extra } };
  }
  return s;
}

/**
 * Whether a tool result came after the user's last message: then the tool call was answered and the final text is
 * due. A resumed session (a repair turn) carries the earlier turn's results but ends with a new user message, so the
 * script writes again.
 */
function resultSinceLastAsk(items, isAsk, isResult) {
  let lastAsk = -1;
  items.forEach((item, i) => {
    if (isAsk(item)) lastAsk = i;
  });
  return items.slice(lastAsk + 1).some(isResult);
}

/**
 * Tool call ids unique across the server's life: a resumed session (a repair turn) holds the earlier turn's calls,
 * and Claude Code treats a second call with an id it has already seen as interrupted ("[Tool use interrupted]").
 */
let idCounter = 0;
const nextId = (prefix) => `${prefix}${String(++idCounter).padStart(4, '0')}`;

function send(res, status, obj, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(obj));
}

function sse(res, events, { named = false } = {}) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const e of events) {
    if (e === '[DONE]') res.write('data: [DONE]\n\n');
    else if (named) res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    else res.write(`data: ${JSON.stringify(e)}\n\n`);
  }
  res.end();
}

function route(req, res, url, body, scenario) {
  const p = url.pathname;
  if (req.method === 'HEAD' || (req.method === 'GET' && (p === '/' || p === ''))) return res.writeHead(200).end();
  if (req.method === 'GET' && /\/models\/?$/.test(p)) return send(res, 200, { object: 'list', data: [], models: [] });
  if (req.method !== 'POST') return send(res, 404, { error: { message: `not scripted: ${req.method} ${p}` } });
  if (/\/messages$/.test(p)) {
    if (/count_tokens/.test(p)) return send(res, 200, { input_tokens: 10 });
    return anthropic(res, body, scenario);
  }
  if (/\/messages\/count_tokens$/.test(p)) return send(res, 200, { input_tokens: 10 });
  if (/\/responses$/.test(p)) return responses(res, body, scenario);
  if (/\/chat\/completions$/.test(p)) return chat(res, body, scenario);
  if (/:streamGenerateContent$/.test(p)) return gemini(res, body, scenario, true);
  if (/:generateContent$/.test(p)) return gemini(res, body, scenario, false);
  if (/:countTokens$/.test(p)) return send(res, 200, { totalTokens: 10 });
  return send(res, 404, { error: { message: `not scripted: POST ${p}` } });
}

const finalText = (s) => s.finalText ?? 'Done.';

// ---------------------------------------------------------------------------------------------- Anthropic Messages
function anthropic(res, body, s) {
  if (s.error) {
    const type = { 401: 'authentication_error', 429: 'rate_limit_error', 529: 'overloaded_error' }[s.error.status] ?? 'api_error';
    return send(res, s.error.status, { type: 'error', error: { type, message: s.error.message } }, s.error.headers);
  }
  const tools = (body.tools ?? []).map((t) => t.name);
  const isResult = (m) => Array.isArray(m.content) && m.content.some((c) => c.type === 'tool_result');
  const hasResult = resultSinceLastAsk(body.messages ?? [], (m) => m.role === 'user' && !isResult(m), isResult);
  let content;
  if (s.write && tools.includes('Write') && !hasResult) {
    content = [{ type: 'tool_use', id: nextId('toolu_'), name: 'Write', input: { file_path: s.write.path, content: s.write.content } }];
  } else if (s.bash && tools.includes('Bash') && !hasResult) {
    content = [{ type: 'tool_use', id: nextId('toolu_'), name: 'Bash', input: { command: s.bash, description: 'run' } }];
  } else {
    content = [{ type: 'text', text: tools.length ? finalText(s) : 'ok' }];
  }
  const stop = content[0].type === 'tool_use' ? 'tool_use' : 'end_turn';
  const usage = { input_tokens: USAGE.input - USAGE.cached, cache_read_input_tokens: USAGE.cached, cache_creation_input_tokens: 0, output_tokens: USAGE.output };
  const message = { id: `msg_${Date.now()}`, type: 'message', role: 'assistant', model: body.model, content, stop_reason: stop, stop_sequence: null, usage };
  if (!body.stream) return send(res, 200, message);
  const events = [{ type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } }];
  content.forEach((c, index) => {
    if (c.type === 'text') {
      events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: c.text } });
    } else {
      events.push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: c.id, name: c.name, input: {} } });
      events.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(c.input) } });
    }
    events.push({ type: 'content_block_stop', index });
  });
  events.push({ type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: USAGE.output } });
  events.push({ type: 'message_stop' });
  sse(res, events, { named: true });
}

// ----------------------------------------------------------------------------------------------- OpenAI Responses
function responses(res, body, s) {
  if (s.error) return send(res, s.error.status, { error: { message: s.error.message, type: s.error.type ?? 'error', code: s.error.code ?? null, ...s.error.extra } }, s.error.headers);
  const tools = (body.tools ?? []).map((t) => t.name ?? t.type);
  const input = Array.isArray(body.input) ? body.input : [];
  const hasResult = resultSinceLastAsk(input, (i) => i.role === 'user', (i) => /_output$/.test(String(i.type)));
  let item;
  if (s.write && !hasResult && tools.includes('apply_patch')) {
    const patch = `*** Begin Patch\n*** Add File: ${s.write.relPath ?? s.write.path}\n${s.write.content.split('\n').map((l) => `+${l}`).join('\n')}\n*** End Patch\n`;
    item = { type: 'custom_tool_call', id: nextId('ctc_'), call_id: nextId('call_'), name: 'apply_patch', input: patch, status: 'completed' };
  } else if (s.bash && !hasResult && (tools.includes('exec_command') || tools.includes('shell'))) {
    const name = tools.includes('exec_command') ? 'exec_command' : 'shell';
    const args = name === 'exec_command' ? { cmd: s.bash } : { command: ['bash', '-lc', s.bash] };
    item = { type: 'function_call', id: nextId('fc_'), call_id: nextId('call_'), name, arguments: JSON.stringify(args), status: 'completed' };
  } else {
    item = { type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: tools.length ? finalText(s) : 'ok', annotations: [] }] };
  }
  const id = `resp_${Date.now()}`;
  const usage = { input_tokens: USAGE.input, input_tokens_details: { cached_tokens: USAGE.cached }, output_tokens: USAGE.output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: USAGE.input + USAGE.output };
  const base = { id, object: 'response', created_at: Math.floor(Date.now() / 1000), model: body.model, status: 'in_progress', output: [] };
  sse(
    res,
    [
      { type: 'response.created', sequence_number: 0, response: base },
      { type: 'response.output_item.added', sequence_number: 1, output_index: 0, item: { ...item, status: 'in_progress' } },
      { type: 'response.output_item.done', sequence_number: 2, output_index: 0, item },
      { type: 'response.completed', sequence_number: 3, response: { ...base, status: 'completed', output: [item], usage } },
    ],
    { named: true },
  );
}

// ----------------------------------------------------------------------------------------------- Chat Completions
function chat(res, body, s) {
  // opencode retries a 429 or 5xx five times, waiting what `retry-after-ms` says (else seconds, growing): 100 ms
  // keeps an error case to about a second. A long retry-after makes it wait that long, silently.
  if (s.error) return send(res, s.error.status, { error: { message: s.error.message, type: s.error.type ?? 'error', code: s.error.code ?? null } }, { 'retry-after-ms': '100', ...s.error.headers });
  const tools = (body.tools ?? []).map((t) => t.function?.name);
  const hasResult = resultSinceLastAsk(body.messages ?? [], (m) => m.role === 'user', (m) => m.role === 'tool');
  const id = `chatcmpl-${Date.now()}`;
  const chunk = (delta, finish = null) => ({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] });
  const events = [chunk({ role: 'assistant', content: '' })];
  if (s.write && tools.includes('write') && !hasResult) {
    events.push(chunk({ tool_calls: [{ index: 0, id: nextId('call_'), type: 'function', function: { name: 'write', arguments: JSON.stringify({ filePath: s.write.path, content: s.write.content }) } }] }));
    events.push(chunk({}, 'tool_calls'));
  } else if (s.bash && tools.includes('bash') && !hasResult) {
    events.push(chunk({ tool_calls: [{ index: 0, id: nextId('call_'), type: 'function', function: { name: 'bash', arguments: JSON.stringify({ command: s.bash, description: 'run' }) } }] }));
    events.push(chunk({}, 'tool_calls'));
  } else {
    events.push(chunk({ content: tools.length ? finalText(s) : 'ok' }));
    events.push(chunk({}, 'stop'));
  }
  events.push({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: body.model, choices: [], usage: { prompt_tokens: USAGE.input, completion_tokens: USAGE.output, total_tokens: USAGE.input + USAGE.output, prompt_tokens_details: { cached_tokens: USAGE.cached } } });
  events.push('[DONE]');
  if (body.stream === false) {
    const last = events[events.length - 3].choices[0];
    return send(res, 200, { id, object: 'chat.completion', model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: last.delta.content ?? null }, finish_reason: 'stop' }], usage: events[events.length - 2].usage });
  }
  sse(res, events);
}

// ---------------------------------------------------------------------------------------------------------- Gemini
function gemini(res, body, s, stream) {
  if (s.error) {
    const status = { 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL' }[s.error.status] ?? 'UNKNOWN';
    // `details`: google.rpc error details (QuotaFailure, RetryInfo), which Gemini CLI reads to tell a quota from a
    // transient limit and to learn the retry delay.
    return send(res, s.error.status, { error: { code: s.error.status, message: s.error.message, status, ...(s.error.details ? { details: s.error.details } : {}) } }, s.error.headers);
  }
  const tools = (body.tools ?? []).flatMap((t) => (t.functionDeclarations ?? []).map((f) => f.name));
  const isResult = (c) => (c.parts ?? []).some((p) => p.functionResponse);
  const hasResult = resultSinceLastAsk(body.contents ?? [], (c) => c.role === 'user' && !isResult(c), isResult);
  let parts;
  if (s.write && tools.includes('write_file') && !hasResult) {
    parts = [{ functionCall: { name: 'write_file', args: { file_path: s.write.path, content: s.write.content } } }];
  } else if (s.bash && tools.includes('run_shell_command') && !hasResult) {
    parts = [{ functionCall: { name: 'run_shell_command', args: { command: s.bash, description: 'run' } } }];
  } else if (!tools.length && body.generationConfig?.responseMimeType === 'application/json') {
    // The CLI's routing classifier (model "auto") and other JSON side calls.
    parts = [{ text: JSON.stringify({ reasoning: 'scripted', model_choice: 'flash', next_speaker: 'user' }) }];
  } else {
    parts = [{ text: tools.length ? finalText(s) : 'ok' }];
  }
  const out = {
    candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: USAGE.input, cachedContentTokenCount: USAGE.cached, candidatesTokenCount: USAGE.output, totalTokenCount: USAGE.input + USAGE.output },
    modelVersion: 'scripted',
  };
  if (!stream) return send(res, 200, out);
  sse(res, [out]);
}

/**
 * The Gemini API's answer to an exhausted quota: RESOURCE_EXHAUSTED naming the quota that ran out and a RetryInfo
 * delay (Gemini CLI reads both; it prints "Please retry in <n>s." from the message).
 */
const geminiQuotaError = (seconds) => ({
  status: 429,
  message: `You exceeded your current quota, please check your plan and billing details. Please retry in ${seconds}s.`,
  details: [
    {
      '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
      violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }],
    },
    { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${seconds}s` },
  ],
});

module.exports = { startModelServer, geminiQuotaError, USAGE };
