import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { renderInvoiceHtml, toInvoiceCsv, toInvoiceJson, type Invoice } from '@meterline/domain';
import type { InvoiceDocuments } from './invoice-jobs';

/**
 * The documents of an invoice as files: `<dir>/<period>/<invoice_id>.{json,csv,html}`. Each is
 * written to a temporary name and renamed, so a reader never sees half a file and a re-run
 * (same invoice, same bytes) replaces it with itself.
 */
export class FileInvoiceDocuments implements InvoiceDocuments {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  async write(invoice: Invoice): Promise<Record<string, string>> {
    const folder = join(this.dir, invoice.period);
    await mkdir(folder, { recursive: true });
    const docs: [string, string][] = [
      ['json', toInvoiceJson(invoice)],
      ['csv', toInvoiceCsv(invoice)],
      ['html', renderInvoiceHtml(invoice)],
    ];
    const paths: Record<string, string> = {};
    await Promise.all(
      docs.map(async ([format, text]) => {
        const path = join(folder, `${invoice.invoice_id}.${format}`);
        const temp = `${path}.${process.pid}.tmp`;
        await writeFile(temp, text);
        await rename(temp, path);
        paths[format] = path;
      }),
    );
    return paths;
  }
}
