import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { invoiceDocumentFormats, invoiceDocuments, type Invoice } from '@meterline/domain';
import type { InvoiceDocuments } from './invoice-jobs';

/**
 * The documents of an invoice as files: `<dir>/<period>/<invoice_id>.{json,csv,html}`, rendered
 * by the domain's one definition (the API serves the same bytes). Each is
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
    const paths: Record<string, string> = {};
    await Promise.all(
      invoiceDocumentFormats.map(async (format) => {
        const kind = invoiceDocuments[format];
        const path = join(folder, `${invoice.invoice_id}.${kind.extension}`);
        const temp = `${path}.${process.pid}.tmp`;
        await writeFile(temp, kind.render(invoice));
        await rename(temp, path);
        paths[format] = path;
      }),
    );
    return paths;
  }
}
