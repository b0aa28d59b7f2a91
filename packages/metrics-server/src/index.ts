export { MetricsServer, type MetricsServerOptions } from './metrics_server.js';
export { MetricsStorage, decodeSummary, usageBetween, type MetricsPoint, type PodUsage, type Usage } from './storage.js';
export { handleMetricsRequest, apiResourceList, cpuQuantity, memoryQuantity, GROUP, VERSION, GROUP_VERSION } from './metrics_api.js';
export { nodeTarget, scrapeNode, ScrapeError } from './scraper.js';
