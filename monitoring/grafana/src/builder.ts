/**
 * A small dashboards-as-code builder: panel constructors that fill in Grafana's defaults, and a layout
 * that turns rows of sized panels into grid positions and ids. Output is plain data, deterministic.
 */
import type {
  AnyPanel,
  DataSourceRef,
  Dashboard,
  FieldConfig,
  FieldOverride,
  Panel,
  PanelType,
  RowPanel,
  Target,
  ThresholdStep,
  ValueMapping,
} from './types';

/** The provisioned Prometheus datasource (monitoring/grafana/provisioning/datasources/datasources.yaml). */
export const prometheus: DataSourceRef = { type: 'prometheus', uid: 'prometheus' };

export const TAG = 'product-store';
export const SCHEMA_VERSION = 39;
/** Dashboards are code: edit the builder and run generate.ts, not the Grafana UI. */
export const EDITABLE = false;

/** Grafana's grid is 24 columns wide. */
const GRID_WIDTH = 24;

export interface Query {
  expr: string;
  /** Grafana legend format, e.g. `{{route}}`; empty lets Grafana name the series. */
  legend?: string;
}

export interface PanelOptions {
  title: string;
  description: string;
  /** A Grafana unit id: reqps, percentunit, s, bytes, short, currencyUSD, ... */
  unit: string;
  queries: Query[];
  w?: number;
  h?: number;
  decimals?: number;
  /** Defaults to 0: every series shown here is non-negative. */
  min?: number;
  max?: number;
  /** Steps above the green base, e.g. [{ color: 'red', value: 0.05 }]. */
  thresholds?: ThresholdStep[];
  mappings?: ValueMapping[];
  overrides?: FieldOverride[];
  /** Timeseries only: stack the series (normal stacking). */
  stack?: boolean;
}

/** A panel before layout: everything but its id and position. */
export interface PanelSpec {
  w: number;
  h: number;
  panel: Omit<Panel, 'id' | 'gridPos'>;
}

/** A row header and the panels under it, laid out left to right, wrapping at 24 columns. */
export interface Section {
  title: string;
  panels: PanelSpec[];
}

export const q = (expr: string, legend = ''): Query => ({ expr, legend });

function targets(queries: Query[]): Target[] {
  if (queries.length === 0) throw new Error('a panel needs at least one query');
  if (queries.length > 26) throw new Error('at most 26 queries per panel');
  return queries.map((query, i) => ({
    refId: String.fromCharCode(65 + i),
    datasource: prometheus,
    expr: query.expr,
    legendFormat: query.legend ?? '',
    editorMode: 'code',
    range: true,
    instant: false,
  }));
}

function fieldConfig(o: PanelOptions, colorMode: string, custom?: Record<string, unknown>): FieldConfig {
  return {
    defaults: {
      unit: o.unit,
      ...(o.decimals === undefined ? {} : { decimals: o.decimals }),
      min: o.min ?? 0,
      ...(o.max === undefined ? {} : { max: o.max }),
      color: { mode: colorMode },
      thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, ...(o.thresholds ?? [])] },
      mappings: o.mappings ?? [],
      ...(custom ? { custom } : {}),
    },
    overrides: o.overrides ?? [],
  };
}

const reduceOptions = { calcs: ['lastNotNull'], fields: '', values: false };

function spec(type: PanelType, o: PanelOptions, w: number, h: number, options: Record<string, unknown>, custom?: Record<string, unknown>): PanelSpec {
  return {
    w: o.w ?? w,
    h: o.h ?? h,
    panel: {
      type,
      title: o.title,
      description: o.description,
      datasource: prometheus,
      targets: targets(o.queries),
      fieldConfig: fieldConfig(o, type === 'timeseries' ? 'palette-classic' : 'thresholds', custom),
      options,
    },
  };
}

export function timeseries(o: PanelOptions): PanelSpec {
  const custom = {
    drawStyle: 'line',
    lineInterpolation: 'linear',
    lineWidth: 1,
    fillOpacity: o.stack ? 40 : 10,
    gradientMode: 'none',
    showPoints: 'never',
    pointSize: 5,
    spanNulls: false,
    axisPlacement: 'auto',
    axisLabel: '',
    scaleDistribution: { type: 'linear' },
    stacking: { mode: o.stack ? 'normal' : 'none', group: 'A' },
    thresholdsStyle: { mode: o.thresholds?.length ? 'line' : 'off' },
  };
  const options = {
    legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
    tooltip: { mode: 'multi', sort: 'desc' },
  };
  return spec('timeseries', o, 12, 8, options, custom);
}

export function stat(o: PanelOptions): PanelSpec {
  const options = {
    reduceOptions,
    colorMode: o.mappings ? 'background' : 'value',
    graphMode: o.mappings ? 'none' : 'area',
    justifyMode: 'auto',
    orientation: 'auto',
    textMode: o.queries.some((x) => x.legend) ? 'value_and_name' : 'auto',
    wideLayout: true,
    showPercentChange: false,
  };
  return spec('stat', o, 4, 4, options);
}

export function gauge(o: PanelOptions): PanelSpec {
  const options = { reduceOptions, orientation: 'auto', showThresholdLabels: false, showThresholdMarkers: true, minVizWidth: 75, minVizHeight: 75 };
  return spec('gauge', o, 4, 4, options);
}

export const row = (title: string, panels: PanelSpec[]): Section => ({ title, panels });

/** Value mapping for 0/1 health series such as `up`. */
export const upDownMapping: ValueMapping[] = [
  { type: 'value', options: { '0': { text: 'DOWN', color: 'red', index: 0 }, '1': { text: 'UP', color: 'green', index: 1 } } },
];

/** Overrides that draw the series of one query as a dashed red line (a limit, a maximum). */
export function limitLine(refId: string): FieldOverride {
  return {
    matcher: { id: 'byFrameRefID', options: refId },
    properties: [
      { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
      { id: 'custom.fillOpacity', value: 0 },
      { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
    ],
  };
}

/** Ids from 1 in reading order; each row header takes a full line, its panels flow beneath it. */
export function layout(sections: Section[]): AnyPanel[] {
  const panels: AnyPanel[] = [];
  let id = 1;
  let y = 0;
  for (const section of sections) {
    const header: RowPanel = { id: id++, type: 'row', title: section.title, collapsed: false, gridPos: { h: 1, w: GRID_WIDTH, x: 0, y }, panels: [] };
    panels.push(header);
    y += 1;
    let x = 0;
    let lineHeight = 0;
    for (const { w, h, panel } of section.panels) {
      if (w < 1 || w > GRID_WIDTH) throw new Error(`panel "${panel.title}": width ${w} is outside 1..${GRID_WIDTH}`);
      if (x + w > GRID_WIDTH) {
        y += lineHeight;
        x = 0;
        lineHeight = 0;
      }
      panels.push({ id: id++, ...panel, gridPos: { h, w, x, y } } as Panel);
      x += w;
      lineHeight = Math.max(lineHeight, h);
    }
    y += lineHeight;
  }
  return panels;
}

export interface DashboardOptions {
  uid: string;
  title: string;
  description: string;
  sections: Section[];
}

export function dashboard(o: DashboardOptions): Dashboard {
  return {
    uid: o.uid,
    title: o.title,
    description: o.description,
    tags: [TAG],
    timezone: 'browser',
    editable: EDITABLE,
    graphTooltip: 1,
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    time: { from: 'now-1h', to: 'now' },
    timepicker: { refresh_intervals: ['10s', '30s', '1m', '5m', '15m', '30m', '1h'] },
    refresh: '30s',
    templating: { list: [] },
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    links: [
      {
        type: 'dashboards',
        title: 'Product Store',
        tags: [TAG],
        asDropdown: true,
        includeVars: false,
        keepTime: true,
        icon: 'external link',
        tooltip: '',
        url: '',
        targetBlank: false,
      },
    ],
    panels: layout(o.sections),
  };
}

/** Panels that carry queries (row headers carry none). */
export const queryPanels = (d: Dashboard): Panel[] => d.panels.filter((p): p is Panel => p.type !== 'row');
