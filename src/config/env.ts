/**
 * The only reader of `process.env` (STYLE habit 5). Everything else receives an {@link Env}.
 */

export interface Env {
  readonly workloadToken: string | undefined;
  readonly agentToken: string | undefined;
  readonly agentUrl: string | undefined;
  readonly caDir: string | undefined;
  readonly lambdaLoopback: boolean;
  readonly lambdaFunctionName: string | undefined;
  readonly httpsProxy: string | undefined;
  readonly httpProxy: string | undefined;
  readonly noProxy: string | undefined;
  /**
   * `CLEF_PROXY_SYSTEM_BUNDLE`: the OS trust bundle `ca env` merges, instead of searching the platform paths (for
   * tests and systems that keep it elsewhere).
   */
  readonly systemBundle: string | undefined;
  /** Inputs to the platform-default CA directory (SPEC §4). */
  readonly platform: NodeJS.Platform;
  readonly home: string | undefined;
  readonly xdgDataHome: string | undefined;
  readonly localAppData: string | undefined;
  /**
   * Any other variable, by name: the values audit sink headers reference (`"$SIEM_TOKEN"`, docs/audit.md).
   * Read when called, from the same source as the rest.
   */
  readonly variable: (name: string) => string | undefined;
}

type Source = Readonly<Record<string, string | undefined>>;

/** First non-empty value among `names`, upper-case variants first (SPEC §7). */
function first(src: Source, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = src[n];
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}

/** Read the environment once. Pass a plain object in tests. */
export function readEnv(src: Source = process.env, platform: NodeJS.Platform = process.platform): Env {
  const lambda = (src.CLEF_PROXY_LAMBDA_LOOPBACK ?? '').toLowerCase();
  return Object.freeze({
    workloadToken: src.CLEF_PROXY_TOKEN,
    agentToken: src.CLEF_PROXY_AGENT_TOKEN,
    agentUrl: first(src, 'CLEF_PROXY_AGENT_URL'),
    caDir: first(src, 'CLEF_PROXY_CA_DIR'),
    lambdaLoopback: lambda === '1' || lambda === 'true',
    lambdaFunctionName: first(src, 'AWS_LAMBDA_FUNCTION_NAME'),
    httpsProxy: first(src, 'HTTPS_PROXY', 'https_proxy'),
    httpProxy: first(src, 'HTTP_PROXY', 'http_proxy'),
    noProxy: first(src, 'NO_PROXY', 'no_proxy'),
    systemBundle: first(src, 'CLEF_PROXY_SYSTEM_BUNDLE'),
    platform,
    home: first(src, 'HOME', 'USERPROFILE'),
    xdgDataHome: first(src, 'XDG_DATA_HOME'),
    localAppData: first(src, 'LOCALAPPDATA'),
    variable: (name: string) => (Object.hasOwn(src, name) ? src[name] : undefined),
  });
}
