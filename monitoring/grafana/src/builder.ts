/**
 * Dashboards as code on the Grafana Foundation SDK (@grafana/grafana-foundation-sdk, Grafana's own
 * builders and types for the dashboard JSON model): panel constructors that set what every Product Store
 * panel shares, and a dashboard of rows that the SDK lays out on the grid. Output is plain data, deterministic.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as sdk from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as GaugeBuilder } from '@grafana/grafana-foundation-sdk/gauge';
import * as prom from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** The provisioned Prometheus datasource (monitoring/grafana/provisioning/datasources/datasources.yaml). */
export const prometheus = { type: 'prometheus', uid: 'prometheus' } as const;

export const TAG = 'product-store';
/**
 * The SDK writes the schema of its Grafana line (41 for 11.6); compose runs Grafana 11.2, whose latest
 * schema is 39. The steps to 40 (a `refresh` that is not a string becomes '') and 41 (drops
 * `timepicker.time_options`) touch nothing these dashboards set.
 */
export const SCHEMA_VERSION = 39;

/** The SDK's types leave nearly every field optional; these are the fields `dashboard()` always fills in. */
export type Target = prom.dataquery & { datasource: typeof prometheus; legendFormat: string };
export type Panel = Omit<sdk.Panel, 'datasource' | 'targets'> &
  Required<Pick<sdk.Panel, 'id' | 'title' | 'description' | 'gridPos' | 'fieldConfig'>> & { datasource: typeof prometheus; targets: Target[] };
export type Row = sdk.RowPanel & Required<Pick<sdk.RowPanel, 'title' | 'gridPos'>>;
export type Dashboard = Omit<sdk.Dashboard, 'templating' | 'panels'> &
  Required<Pick<sdk.Dashboard, 'uid' | 'title' | 'description' | 'tags' | 'editable' | 'time' | 'refresh'>> & {
    templating: { list: sdk.VariableModel[] };
    panels: Array<Panel | Row>;
  };
export type FieldOverride = sdk.FieldConfigSource['overrides'][number];

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
  thresholds?: sdk.Threshold[];
  mappings?: sdk.ValueMapping[];
  overrides?: FieldOverride[];
  /** Timeseries only: stack the series (normal stacking). */
  stack?: boolean;
}

/** A panel before layout: everything but its id and position. */
export type PanelSpec = TimeseriesBuilder | StatBuilder | GaugeBuilder;

/** A row header and the panels under it, laid out left to right, wrapping at 24 columns. */
export interface Section {
  title: string;
  panels: PanelSpec[];
}

export const q = (expr: string, legend = ''): Query => ({ expr, legend });

function targets(queries: Query[]): prom.DataqueryBuilder[] {
  if (queries.length === 0) throw new Error('a panel needs at least one query');
  if (queries.length > 26) throw new Error('at most 26 queries per panel');
  return queries.map((query, i) =>
    new prom.DataqueryBuilder()
      .refId(String.fromCharCode(65 + i))
      .datasource(prometheus)
      .expr(query.expr)
      .legendFormat(query.legend ?? '')
      .editorMode(prom.QueryEditorMode.Code)
      .range(),
  );
}

/** What every panel type shares: title, queries, size, and the field defaults (unit, range, colours, thresholds). */
function spec<B extends PanelSpec>(builder: B, o: PanelOptions, w: number, h: number, color: sdk.FieldColorModeId): B {
  const b = builder as PanelSpec;
  b.title(o.title)
    .description(o.description)
    .datasource(prometheus)
    .targets(targets(o.queries))
    .span(o.w ?? w)
    .height(o.h ?? h)
    .unit(o.unit)
    .min(o.min ?? 0)
    .colorScheme(new sdk.FieldColorBuilder().mode(color))
    .thresholds(new sdk.ThresholdsConfigBuilder().mode(sdk.ThresholdsMode.Absolute).steps([{ color: 'green', value: null }, ...(o.thresholds ?? [])]))
    .mappings(o.mappings ?? [])
    .overrides(o.overrides ?? []);
  if (o.decimals !== undefined) b.decimals(o.decimals);
  if (o.max !== undefined) b.max(o.max);
  return builder;
}

const reduceOptions = () => new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).fields('').values(false);

export function timeseries(o: PanelOptions): PanelSpec {
  return spec(new TimeseriesBuilder(), o, 12, 8, sdk.FieldColorModeId.PaletteClassic)
    .drawStyle(common.GraphDrawStyle.Line)
    .lineInterpolation(common.LineInterpolation.Linear)
    .lineWidth(1)
    .fillOpacity(o.stack ? 40 : 10)
    .gradientMode(common.GraphGradientMode.None)
    .showPoints(common.VisibilityMode.Never)
    .pointSize(5)
    .spanNulls(false)
    .axisPlacement(common.AxisPlacement.Auto)
    .axisLabel('')
    .scaleDistribution(new common.ScaleDistributionConfigBuilder().type(common.ScaleDistribution.Linear))
    .stacking(new common.StackingConfigBuilder().mode(o.stack ? common.StackingMode.Normal : common.StackingMode.None).group('A'))
    .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(o.thresholds?.length ? common.GraphThresholdsStyleMode.Line : common.GraphThresholdsStyleMode.Off))
    .legend(new common.VizLegendOptionsBuilder().displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom).showLegend(true).calcs([]))
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
}

export function stat(o: PanelOptions): PanelSpec {
  return spec(new StatBuilder(), o, 4, 4, sdk.FieldColorModeId.Thresholds)
    .reduceOptions(reduceOptions())
    .colorMode(o.mappings ? common.BigValueColorMode.Background : common.BigValueColorMode.Value)
    .graphMode(o.mappings ? common.BigValueGraphMode.None : common.BigValueGraphMode.Area)
    .justifyMode(common.BigValueJustifyMode.Auto)
    .orientation(common.VizOrientation.Auto)
    .textMode(o.queries.some((x) => x.legend) ? common.BigValueTextMode.ValueAndName : common.BigValueTextMode.Auto)
    .wideLayout(true)
    .showPercentChange(false);
}

export function gauge(o: PanelOptions): PanelSpec {
  return spec(new GaugeBuilder(), o, 4, 4, sdk.FieldColorModeId.Thresholds)
    .reduceOptions(reduceOptions())
    .orientation(common.VizOrientation.Auto)
    .showThresholdLabels(false)
    .showThresholdMarkers(true)
    .minVizWidth(75)
    .minVizHeight(75);
}

export const row = (title: string, panels: PanelSpec[]): Section => ({ title, panels });

/** Value mapping for 0/1 health series such as `up`. */
export const upDownMapping: sdk.ValueMapping[] = [
  {
    type: sdk.MappingType.ValueToText,
    options: { '0': { text: 'DOWN', color: 'red', index: 0 }, '1': { text: 'UP', color: 'green', index: 1 } },
  },
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

export interface DashboardOptions {
  uid: string;
  title: string;
  description: string;
  sections: Section[];
}

/**
 * Each row header takes a full line and its panels flow beneath it (the SDK's layout: left to right,
 * a new line once 24 columns are filled); ids are then numbered from 1 in reading order.
 */
export function dashboard(o: DashboardOptions): Dashboard {
  const builder = new sdk.DashboardBuilder(o.title)
    .uid(o.uid)
    .description(o.description)
    .tags([TAG])
    .timezone('browser')
    // Dashboards are code: edit the builder and run generate.ts, not the Grafana UI.
    .readonly()
    .tooltip(sdk.DashboardCursorSync.Crosshair)
    .version(1)
    .fiscalYearStartMonth(0)
    .liveNow(false)
    .weekStart('')
    .time({ from: 'now-1h', to: 'now' })
    .timepicker(new sdk.TimePickerBuilder().refreshIntervals(['10s', '30s', '1m', '5m', '15m', '30m', '1h']))
    .refresh('30s')
    .variables([])
    .annotation(
      new sdk.AnnotationQueryBuilder()
        .builtIn(1)
        .datasource({ type: 'grafana', uid: '-- Grafana --' })
        .enable(true)
        .hide(true)
        .iconColor('rgba(0, 211, 255, 1)')
        .name('Annotations & Alerts')
        .type('dashboard'),
    )
    .link(
      new sdk.DashboardLinkBuilder('Product Store')
        .type(sdk.DashboardLinkType.Dashboards)
        .tags([TAG])
        .asDropdown(true)
        .includeVars(false)
        .keepTime(true)
        .icon('external link')
        .tooltip('')
        .url('')
        .targetBlank(false),
    );
  for (const section of o.sections) {
    builder.withRow(new sdk.RowBuilder(section.title));
    for (const panel of section.panels) builder.withPanel(panel);
  }
  const built = builder.build() as Dashboard;
  built.schemaVersion = SCHEMA_VERSION;
  built.panels.forEach((panel, i) => {
    panel.id = i + 1;
    // The SDK starts a new line only once a line is full: a panel that does not fit would hang off the grid.
    if (panel.gridPos.x + panel.gridPos.w > 24) throw new Error(`${o.uid} "${panel.title}": fill each line of 24 columns exactly`);
  });
  return built;
}

/** Panels that carry queries (row headers carry none). */
export const queryPanels = (d: Dashboard): Panel[] => d.panels.filter((p): p is Panel => p.type !== 'row');
