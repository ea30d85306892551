export { loadPriceBooks, PriceBookStore, PriceBooksError, PRICE_FILES, type UnpricedModel } from './price-book-store';
