// A YAML writer for rule files and manifests. Debian's jsonnet 0.18 writes
// every multi-line string on one line with \n escapes, which makes PromQL
// unreadable in review; this one writes them as literal blocks, keeps the
// key order Prometheus' own docs use, and leaves no trailing spaces (yamllint).
local order = [
  'apiVersion', 'kind', 'metadata', 'spec', 'name', 'namespace',
  'groups', 'interval', 'rules',
  'alert', 'record', 'expr', 'for', 'labels', 'annotations',
  'summary', 'description', 'runbook_url',
];

local rank(key) =
  local at = std.find(key, order);
  if std.length(at) > 0 then at[0] else std.length(order);

local keys(object) =
  std.sort(std.objectFields(object), function(k) '%03d%s' % [rank(k), k]);

local reserved = ['true', 'false', 'null', 'yes', 'no', 'on', 'off', 'y', 'n', '~', ''];

// A string YAML reads back unchanged without quotes: no indicator at the start,
// no `: ` or ` #` inside, no surrounding space, and nothing that reads as a number.
local plain(s) =
  !std.member(reserved, std.asciiLower(s))
  && std.length(std.findSubstr(': ', s)) == 0
  && std.length(std.findSubstr(' #', s)) == 0
  && !std.endsWith(s, ':')
  && std.length(std.filter(function(c) std.member('[]{},"\'\\&*!|>%@`\t', c), std.stringChars(s))) == 0
  && !std.member('-?:# ', s[0])
  && s[std.length(s) - 1] != ' '
  && std.length(std.filter(function(c) !std.member('0123456789.+-eE_', c), std.stringChars(s))) > 0;

local scalar(v) =
  if std.isString(v) then (if plain(v) then v else std.escapeStringJson(v))
  else if std.isBoolean(v) then (if v then 'true' else 'false')
  else if v == null then 'null'
  else std.toString(v);

local pad(n) = std.repeat(' ', n);

// A block for a multi-line string: `|` keeps the final newline, `|-` drops it.
local block(s, indent) =
  local lines = std.split(if std.endsWith(s, '\n') then std.substr(s, 0, std.length(s) - 1) else s, '\n');
  (if std.endsWith(s, '\n') then '|' else '|-')
  + std.join('', ['\n' + (if l == '' then '' else pad(indent) + l) for l in lines]);

local multiline(v) = std.isString(v) && std.length(std.findSubstr('\n', v)) > 0;
local empty(v) = (std.isArray(v) && std.length(v) == 0) || (std.isObject(v) && std.length(v) == 0);
local nested(v) = (std.isArray(v) || std.isObject(v)) && !empty(v);

// `value` written at `indent`; the caller has written the key or dash before it.
local emit(value, indent) =
  if std.isObject(value) && !empty(value) then
    std.join('\n' + pad(indent), [
      k + ':' + (
        local v = value[k];
        if multiline(v) then ' ' + block(v, indent + 2)
        else if std.isObject(v) && !empty(v) then '\n' + pad(indent + 2) + emit(v, indent + 2)
        else if std.isArray(v) && !empty(v) then '\n' + pad(indent + 2) + emit(v, indent + 2)
        else ' ' + emit(v, indent + 2)
      )
      for k in keys(value)
    ])
  else if std.isArray(value) && !empty(value) then
    std.join('\n' + pad(indent), [
      '- ' + (if multiline(v) then block(v, indent + 2) else emit(v, indent + 2))
      for v in value
    ])
  else if std.isArray(value) then '[]'
  else if std.isObject(value) then '{}'
  else scalar(value);

{
  // A YAML document (with its `---` start) after a comment header, one line per entry of `header`.
  document(value, header=[])::
    std.join('', [(if line == '' then '#' else '# ' + line) + '\n' for line in header]) + '---\n' + emit(value, 0),
}
