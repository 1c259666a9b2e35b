/**
 * The admin page: create products, and change the price and stock of existing ones (or delete them).
 * Shown to the admin role; the API enforces the role anyway (403 for anybody else).
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, explain, money, type Page, type Product, type Session } from './api';
import type { Notify } from './main';

/** "12.50" -> 1250; anything that is not an amount -> NaN (the API then explains what it expects). */
const toCents = (value: string) => (/^\d+(\.\d{1,2})?$/.test(value.trim()) ? Math.round(Number(value) * 100) : Number.NaN);

export function AdminPage({ session, notify }: { session: Session | null; notify: Notify }) {
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const [page, setPage] = useState<Page<Product> | null>(null);
  const [reload, setReload] = useState(0);
  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    if (session?.user.role !== 'admin') return;
    api<Page<Product>>('GET', `/products?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      .then(setPage)
      .catch((err) => notify({ kind: 'error', text: explain(err) }));
  }, [cursor, reload, session?.token]);

  if (session?.user.role !== 'admin')
    return (
      <section>
        <h1>Admin</h1>
        <p>
          This page is for the shop's administrators. <a href="#/signin">Sign in</a> with an admin account.
        </p>
      </section>
    );
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">Admin: products and stock</h1>
      <NewProduct
        notify={notify}
        created={() => {
          setCursors([null]);
          setReload((n) => n + 1);
        }}
      />
      <h2>Products</h2>
      {!page ? (
        <p>Loading…</p>
      ) : (
        <table>
          <caption class="sr-only">Products, with their price and stock</caption>
          <thead>
            <tr>
              <th scope="col">Product</th>
              <th scope="col">Category</th>
              <th scope="col">Price</th>
              <th scope="col">Stock</th>
              <th scope="col"><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((p) => (
              <ProductRow key={p.id} product={p} notify={notify} changed={() => setReload((n) => n + 1)} />
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button type="button" disabled={!page?.next_cursor} onClick={() => page?.next_cursor && setCursors([...cursors, page.next_cursor])}>
          Next page
        </button>
      </nav>
    </section>
  );
}

function NewProduct({ notify, created }: { notify: Notify; created: () => void }) {
  const empty = { name: '', description: '', price: '', currency: 'USD', category: '', stock: '0' };
  const [form, setForm] = useState(empty);
  const [busy, setBusy] = useState(false);
  const field = (id: keyof typeof empty, label: string, extra: Record<string, unknown> = {}) => (
    <div class="field">
      <label for={`new-${id}`}>{label}</label>
      <input id={`new-${id}`} value={form[id]} onInput={(e) => setForm({ ...form, [id]: (e.target as HTMLInputElement).value })} {...extra} />
    </div>
  );
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const body = {
        name: form.name,
        ...(form.description ? { description: form.description } : {}),
        price_cents: toCents(form.price),
        currency: form.currency.toUpperCase(),
        category: form.category,
        stock: Number(form.stock),
      };
      if (Number.isNaN(body.price_cents)) throw new Error('price');
      const product = await api<Product>('POST', '/products', { body });
      notify({ kind: 'info', text: `Created ${product.name} (${money(product.price_cents, product.currency)}, ${product.stock} in stock).` });
      setForm(empty);
      created();
    } catch (err) {
      notify({ kind: 'error', text: err instanceof Error && err.message === 'price' ? 'The price is an amount like 12.50.' : explain(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} aria-labelledby="new-product-title" class="panel">
      <h2 id="new-product-title">New product</h2>
      {field('name', 'Name', { required: true, maxLength: 200 })}
      {field('description', 'Description')}
      {field('price', 'Price', { required: true, inputMode: 'decimal', placeholder: '12.50' })}
      {field('currency', 'Currency', { required: true, maxLength: 3 })}
      {field('category', 'Category', { required: true, maxLength: 50 })}
      {field('stock', 'Stock', { required: true, type: 'number', min: 0 })}
      <button type="submit" disabled={busy}>
        Create product
      </button>
    </form>
  );
}

function ProductRow({ product, notify, changed }: { product: Product; notify: Notify; changed: () => void }) {
  const [price, setPrice] = useState((product.price_cents / 100).toFixed(2));
  const [stock, setStock] = useState(String(product.stock));
  const [confirming, setConfirming] = useState(false);
  const save = async () => {
    const price_cents = toCents(price);
    if (Number.isNaN(price_cents)) return notify({ kind: 'error', text: 'The price is an amount like 12.50.' });
    try {
      // A changed stock applies only on the stock this page showed: customers' orders since are never overwritten.
      const stockChange = Number(stock) !== product.stock ? { stock: Number(stock), expected_stock: product.stock } : {};
      const saved = await api<Product>('PATCH', `/products/${product.id}`, { body: { price_cents, ...stockChange } });
      notify({ kind: 'info', text: `Saved ${saved.name}: ${money(saved.price_cents, saved.currency)}, ${saved.stock} in stock.` });
      changed();
    } catch (err) {
      notify({ kind: 'error', text: explain(err) });
      if (err instanceof ApiError && err.code === 'STOCK_CONFLICT') changed();
    }
  };
  const remove = async () => {
    if (!confirming) return setConfirming(true);
    try {
      await api('DELETE', `/products/${product.id}`);
      notify({ kind: 'info', text: `Deleted ${product.name}.` });
      changed();
    } catch (err) {
      notify({ kind: 'error', text: explain(err) });
    }
  };
  return (
    <tr>
      <th scope="row">{product.name}</th>
      <td>{product.category}</td>
      <td>
        <input aria-label={`Price of ${product.name}`} inputMode="decimal" size={8} value={price} onInput={(e) => setPrice((e.target as HTMLInputElement).value)} />
      </td>
      <td>
        <input aria-label={`Stock of ${product.name}`} type="number" min={0} value={stock} onInput={(e) => setStock((e.target as HTMLInputElement).value)} />
      </td>
      <td class="actions">
        <button type="button" onClick={save} aria-label={`Save ${product.name}`}>
          Save
        </button>
        <button type="button" onClick={remove} aria-label={confirming ? `Confirm deleting ${product.name}` : `Delete ${product.name}`}>
          {confirming ? 'Confirm delete' : 'Delete'}
        </button>
      </td>
    </tr>
  );
}
