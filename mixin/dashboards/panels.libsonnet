// Builders for the dashboard's panels, variables and layout, so that
// deployments.libsonnet reads as a list of panels. Kept here rather than
// fetched (grafonnet): the mixin must build offline with Debian's jsonnet alone.
{
  // Every panel and query goes through the `datasource` variable, so one
  // dashboard serves several Prometheus servers.
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  // Grafana's display names of the panel types, for __requires.
  panelNames:: {
    bargauge: 'Bar gauge',
    stat: 'Stat',
    table: 'Table',
    timeseries: 'Time series',
  },

  target(expr, legend='', instant=false, format='time_series'):: {
    datasource: $.datasource,
    expr: expr,
    legendFormat: legend,
    range: !instant,
    instant: instant,
    format: format,
    editorMode: 'code',
  },

  // A threshold list from [color, lower bound] pairs; the first bound is -Infinity (null).
  thresholds(steps):: {
    mode: 'absolute',
    steps: [{ color: steps[0][0], value: null }] + [{ color: s[0], value: s[1] } for s in steps[1:]],
  },

  fixedColor(color):: { mode: 'fixed', fixedColor: color },

  override(matcher, name, properties):: {
    matcher: { id: matcher, options: name },
    properties: [{ id: k, value: properties[k] } for k in std.objectFields(properties)],
  },

  byName(name, properties):: $.override('byName', name, properties),
  byRegexp(regexp, properties):: $.override('byRegexp', regexp, properties),

  // The size is the panel's; layout() gives the position.
  panel(type, title, description, targets, unit, w, h):: {
    type: type,
    title: title,
    description: description,
    datasource: $.datasource,
    gridPos: { w: w, h: h },
    // Table columns from several queries are named "Value #<refId>".
    targets: std.mapWithIndex(function(i, t) t { refId: std.char(std.codepoint('A') + i) }, targets),
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    options: {},
  },

  local reduceLast = { calcs: ['lastNotNull'], fields: '', values: false },

  stat(title, description, targets, unit='none', w=6, h=6):: $.panel('stat', title, description, targets, unit, w, h) {
    fieldConfig+: { defaults+: { color: { mode: 'thresholds' }, thresholds: $.thresholds([['green']]) } },
    options: {
      reduceOptions: reduceLast,
      colorMode: 'value',
      graphMode: 'none',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'value_and_name',
    },
  },

  bargauge(title, description, targets, unit='none', w=8, h=6):: $.panel('bargauge', title, description, targets, unit, w, h) {
    fieldConfig+: { defaults+: { min: 0, color: { mode: 'thresholds' }, thresholds: $.thresholds([['blue']]) } },
    options: {
      reduceOptions: reduceLast,
      displayMode: 'gradient',
      orientation: 'horizontal',
      showUnfilled: true,
      valueMode: 'color',
      namePlacement: 'auto',
      minVizHeight: 10,
      minVizWidth: 0,
    },
  },

  timeseries(title, description, targets, unit='none', w=12, h=8):: $.panel('timeseries', title, description, targets, unit, w, h) {
    fieldConfig+: {
      defaults+: {
        color: { mode: 'palette-classic' },
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: 10,
          showPoints: 'never',
          spanNulls: false,
          axisSoftMin: 0,
        },
        thresholds: $.thresholds([['green']]),
      },
    },
    options: {
      legend: { displayMode: 'table', placement: 'right', showLegend: true, calcs: ['lastNotNull', 'max'] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  },

  // Instant queries shown as rows; `organize` is Grafana's transformation of the same name.
  table(title, description, targets, organize, sortBy, w=24, h=8):: $.panel('table', title, description, targets, 'none', w, h) {
    fieldConfig+: {
      defaults+: {
        custom: { align: 'auto', cellOptions: { type: 'auto' }, filterable: true },
        thresholds: $.thresholds([['green']]),
      },
    },
    options: {
      showHeader: true,
      cellHeight: 'sm',
      footer: { show: false, reducer: ['sum'], fields: '' },
      sortBy: [sortBy],
    },
    transformations: [
      { id: 'merge', options: {} },
      { id: 'organize', options: organize },
    ],
  },

  // Grafana shows a panel's noValue in every empty cell of a table too, so a
  // table that says why it is empty gives its text columns their own.
  blankCells(text, columns):: [$.byName(c, { noValue: text }) for c in columns],

  colorBackground(steps):: {
    thresholds: $.thresholds(steps),
    'custom.cellOptions': { type: 'color-background', mode: 'basic' },
  },

  // Value mappings from [value, text or null, color] entries, in the order Grafana tries them.
  valueMappings(entries):: [{
    type: 'value',
    options: {
      [e[1][0]]: { color: e[1][2], index: e[0] } + (if e[1][1] == null then {} else { text: e[1][1] })
      for e in std.mapWithIndex(function(i, entry) [i, entry], entries)
    },
  }],

  // A multi-value query variable whose "All" is `.+`: the grafana dashboard-linter's rule,
  // since `.*` would also match series that lack the label.
  queryVariable(name, label, query):: {
    name: name,
    label: label,
    type: 'query',
    datasource: $.datasource,
    definition: query,
    query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    regex: '',
    sort: 1,
    hide: 0,
    multi: true,
    includeAll: true,
    allValue: '.+',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
  },

  // Places the panels of each section left to right under the section's row,
  // wrapping at the grid's 24 columns, and numbers every panel: positions and
  // ids kept by hand drift as panels come and go.
  layout(sections)::
    local place(state, panel) =
      local wraps = state.x + panel.gridPos.w > 24;
      local x = if wraps then 0 else state.x;
      local y = if wraps then state.y + state.lineH else state.y;
      {
        x: x + panel.gridPos.w,
        y: y,
        lineH: if wraps then panel.gridPos.h else std.max(state.lineH, panel.gridPos.h),
        out: state.out + [panel { gridPos+: { x: x, y: y } }],
      };
    local section(state, s) =
      local top = state.y + state.lineH;
      local row = { type: 'row', title: s.row, description: s.description, collapsed: false, panels: [], gridPos: { x: 0, y: top, w: 24, h: 1 } };
      std.foldl(place, s.panels, { x: 0, y: top + 1, lineH: 0, out: state.out + [row] });
    local placed = std.foldl(section, sections, { x: 0, y: 0, lineH: 0, out: [] }).out;
    std.mapWithIndex(function(i, p) p { id: i + 1 }, placed),

  // What grafana.com's import needs: the data source to ask for, and what the dashboard runs on.
  requires(grafanaVersion, panels):: [
    { type: 'grafana', id: 'grafana', name: 'Grafana', version: grafanaVersion },
    { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
  ] + [
    { type: 'panel', id: t, name: $.panelNames[t], version: '' }
    for t in std.set([p.type for p in panels if p.type != 'row'])
  ],
}
