export { ProcessContext } from './process-context';
export { runApp, type App } from './app';
