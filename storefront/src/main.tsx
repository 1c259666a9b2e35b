/**
 * The storefront: a single page on the public API, routed by the URL's hash (so nginx serves one
 * index.html and never needs to know the client's routes). Pages: catalog, product, sign-in,
 * register, cart and checkout, orders, and the admin page for products and stock.
 */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, explain, loadSession, money, newIdempotencyKey, saveSession, whenSignedOut, type Cart, type Order, type Page, type Product, type Session, type User } from './api';
import { AdminPage } from './admin';

/** A message for the shopper; `keep` carries it over the navigation that follows it (then it goes). */
export type Notice = { kind: 'error' | 'info'; text: string; keep?: boolean } | null;
export type Notify = (notice: Notice) => void;

const route = () => location.hash.replace(/^#/, '') || '/';
export const go = (path: string) => {
  location.hash = path;
};

function App() {
  const [path, setPath] = useState(route());
  const [session, setSession] = useState<Session | null>(loadSession());
  const [notice, notify] = useState<Notice>(null);
  const heading = useRef<HTMLElement>(null);

  useEffect(() => {
    const changed = () => {
      setPath(route());
      notify((n) => (n?.keep ? { ...n, keep: false } : null));
    };
    addEventListener('hashchange', changed);
    whenSignedOut(() => {
      setSession(null);
      notify({ kind: 'error', text: 'You are signed out (your session ended). Please sign in again.', keep: true });
      go('/signin');
    });
    return () => removeEventListener('hashchange', changed);
  }, []);
  // A new page moves the focus to its main region, so keyboard and screen-reader users start there.
  useEffect(() => heading.current?.focus(), [path]);

  const signOut = () => {
    saveSession(null);
    setSession(null);
    notify({ kind: 'info', text: 'You are signed out.', keep: true });
    go('/');
  };
  const signedIn = (s: Session) => {
    saveSession(s);
    setSession(s);
    go('/');
  };

  const [, page, id] = path.split('/');
  let body;
  if (page === 'product' && id) body = <ProductPage key={id} id={decodeURIComponent(id)} session={session} notify={notify} />;
  else if (page === 'signin') body = <SignIn onSignedIn={signedIn} notify={notify} />;
  else if (page === 'register') body = <Register onSignedIn={signedIn} notify={notify} />;
  else if (page === 'cart') body = <CartPage session={session} notify={notify} />;
  else if (page === 'orders') body = <OrdersPage session={session} notify={notify} />;
  else if (page === 'admin') body = <AdminPage session={session} notify={notify} />;
  else body = <Catalog notify={notify} />;

  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), heading.current?.focus())}>
        Skip to content
      </a>
      <header>
        <a class="brand" href="#/">
          Product Store
        </a>
        <nav aria-label="Main">
          <ul>
            <li><a href="#/" aria-current={page === undefined || page === '' ? 'page' : undefined}>Catalog</a></li>
            <li><a href="#/cart" aria-current={page === 'cart' ? 'page' : undefined}>Cart</a></li>
            <li><a href="#/orders" aria-current={page === 'orders' ? 'page' : undefined}>Orders</a></li>
            {session?.user.role === 'admin' && <li><a href="#/admin" aria-current={page === 'admin' ? 'page' : undefined}>Admin</a></li>}
            {session ? (
              <li>
                <span class="who">{session.user.email}</span> <button type="button" class="link" onClick={signOut}>Sign out</button>
              </li>
            ) : (
              <>
                <li><a href="#/signin" aria-current={page === 'signin' ? 'page' : undefined}>Sign in</a></li>
                <li><a href="#/register" aria-current={page === 'register' ? 'page' : undefined}>Register</a></li>
              </>
            )}
          </ul>
        </nav>
      </header>
      <main id="main" ref={heading} tabIndex={-1}>
        <div role="alert" class={notice?.kind === 'error' ? 'notice error' : 'hidden'}>{notice?.kind === 'error' ? notice.text : ''}</div>
        <div role="status" class={notice?.kind === 'info' ? 'notice info' : 'hidden'}>{notice?.kind === 'info' ? notice.text : ''}</div>
        {body}
      </main>
    </>
  );
}

/** The catalog: a category filter and cursor pagination (a stack of the cursors that led here). */
function Catalog({ notify }: { notify: Notify }) {
  const [category, setCategory] = useState('');
  const [categories, setCategories] = useState<string[]>([]);
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const [page, setPage] = useState<Page<Product> | null>(null);

  useEffect(() => {
    api<Page<Product>>('GET', '/products?limit=100')
      .then((all) => setCategories([...new Set(all.items.map((p) => p.category))].sort()))
      .catch((err) => notify({ kind: 'error', text: explain(err) }));
  }, []);
  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    const query = new URLSearchParams({ limit: '12' });
    if (category) query.set('category', category);
    if (cursor) query.set('cursor', cursor);
    api<Page<Product>>('GET', `/products?${query}`)
      .then(setPage)
      .catch((err) => notify({ kind: 'error', text: explain(err) }));
  }, [category, cursor]);

  return (
    <section aria-labelledby="catalog-title">
      <h1 id="catalog-title">Catalog</h1>
      <div class="toolbar">
        <label for="category">Category</label>
        <select
          id="category"
          value={category}
          onChange={(e) => {
            setCategory((e.target as HTMLSelectElement).value);
            setCursors([null]);
          }}
        >
          <option value="">All categories</option>
          {categories.map((c) => (
            <option key={c} value={c}>{c}</option>
          ))}
        </select>
      </div>
      {!page ? (
        <p>Loading…</p>
      ) : page.items.length === 0 ? (
        <p>No products here yet.</p>
      ) : (
        <ul class="grid" aria-label="Products">
          {page.items.map((p) => (
            <li class="card" key={p.id}>
              <a href={`#/product/${p.id}`}>{p.name}</a>
              <span class="price">{money(p.price_cents, p.currency)}</span>
              <span class="muted">{p.category}</span>
              <span class={p.stock > 0 ? 'stock' : 'stock out'}>{p.stock > 0 ? `${p.stock} in stock` : 'Out of stock'}</span>
            </li>
          ))}
        </ul>
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

function ProductPage({ id, session, notify }: { id: string; session: Session | null; notify: Notify }) {
  const [product, setProduct] = useState<Product | null>(null);
  const [quantity, setQuantity] = useState(1);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api<Product>('GET', `/products/${encodeURIComponent(id)}`)
      .then(setProduct)
      .catch((err) => notify({ kind: 'error', text: explain(err) }));
  }, [id]);
  if (!product) return <h1>Product</h1>;

  const add = async (e: Event) => {
    e.preventDefault();
    if (!session) {
      notify({ kind: 'error', text: 'Please sign in or register to add products to your cart.', keep: true });
      go('/signin');
      return;
    }
    setBusy(true);
    try {
      await api<Cart>('POST', '/cart/items', { body: { product_id: product.id, quantity } });
      forgetCheckoutKey();
      notify({ kind: 'info', text: `Added ${quantity} × ${product.name} to your cart.` });
    } catch (err) {
      notify({ kind: 'error', text: explain(err, { [product.id]: product.name }) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <article aria-labelledby="product-title">
      <h1 id="product-title">{product.name}</h1>
      <p>{product.description}</p>
      <p class="price">{money(product.price_cents, product.currency)}</p>
      <p>
        Category: {product.category}. <span class={product.stock > 0 ? 'stock' : 'stock out'}>{product.stock > 0 ? `${product.stock} in stock` : 'Out of stock'}</span>
      </p>
      <form onSubmit={add} class="inline">
        <label for="quantity">Quantity</label>
        <input id="quantity" type="number" min={1} max={99} required value={quantity} onInput={(e) => setQuantity(Number((e.target as HTMLInputElement).value))} />
        <button type="submit" disabled={busy}>
          Add to cart
        </button>
      </form>
      <p>
        <a href="#/">Back to the catalog</a>
      </p>
    </article>
  );
}

async function signIn(email: string, password: string): Promise<Session> {
  const login = await api<{ access_token: string }>('POST', '/auth/login', { body: { email, password } });
  // /users/me with the new token (not yet the session's).
  const response = await fetch('/users/me', { headers: { Authorization: `Bearer ${login.access_token}`, Accept: 'application/json' } });
  if (!response.ok) throw new ApiError(response.status, `HTTP_${response.status}`, 'Could not read your account.');
  return { token: login.access_token, user: (await response.json()) as User };
}

function Field(props: { id: string; label: string; type?: 'text' | 'email' | 'password'; value: string; set: (v: string) => void; autocomplete?: string; minLength?: number; hint?: string }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        name={props.id}
        type={(props.type ?? 'text') as 'text'}
        required
        minLength={props.minLength}
        autocomplete={props.autocomplete}
        value={props.value}
        aria-describedby={props.hint ? `${props.id}-hint` : undefined}
        onInput={(e) => props.set((e.target as HTMLInputElement).value)}
      />
      {props.hint && <small id={`${props.id}-hint`}>{props.hint}</small>}
    </div>
  );
}

function SignIn({ onSignedIn, notify }: { onSignedIn: (s: Session) => void; notify: Notify }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    notify(null);
    try {
      const session = await signIn(email, password);
      notify({ kind: 'info', text: `Signed in as ${session.user.email}.`, keep: true });
      onSignedIn(session);
    } catch (err) {
      notify({ kind: 'error', text: explain(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in</h1>
      <form onSubmit={submit}>
        <Field id="email" label="Email" type="email" autocomplete="username" value={email} set={setEmail} />
        <Field id="password" label="Password" type="password" autocomplete="current-password" value={password} set={setPassword} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <p>
        New here? <a href="#/register">Create an account</a>
      </p>
    </section>
  );
}

function Register({ onSignedIn, notify }: { onSignedIn: (s: Session) => void; notify: Notify }) {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    notify(null);
    try {
      await api<User>('POST', '/auth/register', { body: { name, email, password } });
      const session = await signIn(email, password);
      notify({ kind: 'info', text: `Welcome, ${session.user.name}! Your account is ready.`, keep: true });
      onSignedIn(session);
    } catch (err) {
      notify({ kind: 'error', text: explain(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="register-title">
      <h1 id="register-title">Create an account</h1>
      <form onSubmit={submit}>
        <Field id="name" label="Name" autocomplete="name" value={name} set={setName} />
        <Field id="email" label="Email" type="email" autocomplete="email" value={email} set={setEmail} />
        <Field id="password" label="Password" type="password" autocomplete="new-password" minLength={8} hint="At least 8 characters." value={password} set={setPassword} />
        <button type="submit" disabled={busy}>
          Register
        </button>
      </form>
    </section>
  );
}

/**
 * One Idempotency-Key per checkout attempt, kept (in sessionStorage, so a reload keeps it too) until
 * the attempt has a definite outcome: a retry after a lost answer, a timeout or a double click sends
 * the same key, and order-service answers with the one order it placed. A changed cart is a new attempt.
 */
const CHECKOUT_KEY = 'product-store.checkout-key';
export const forgetCheckoutKey = () => sessionStorage.removeItem(CHECKOUT_KEY);
function checkoutKey(): string {
  let key = sessionStorage.getItem(CHECKOUT_KEY);
  if (!key) {
    key = newIdempotencyKey();
    sessionStorage.setItem(CHECKOUT_KEY, key);
  }
  return key;
}

function CartPage({ session, notify }: { session: Session | null; notify: Notify }) {
  const [cart, setCart] = useState<Cart | null>(null);
  const [busy, setBusy] = useState(false);
  const placing = useRef<Promise<void> | null>(null);
  useEffect(() => {
    if (!session) return;
    api<Cart>('GET', '/cart')
      .then(setCart)
      .catch((err) => notify({ kind: 'error', text: explain(err) }));
  }, [session?.token]);
  if (!session)
    return (
      <section>
        <h1>Your cart</h1>
        <p>
          <a href="#/signin">Sign in</a> or <a href="#/register">register</a> to use your cart.
        </p>
      </section>
    );
  const names = Object.fromEntries((cart?.items ?? []).map((l) => [l.product_id, l.name]));
  const change = async (action: () => Promise<Cart>) => {
    setBusy(true);
    try {
      setCart(await action());
      forgetCheckoutKey();
      notify(null);
    } catch (err) {
      notify({ kind: 'error', text: explain(err, names) });
    } finally {
      setBusy(false);
    }
  };
  const checkout = () => {
    // A second click while the first is under way joins it (and would send the same key anyway).
    if (placing.current) return placing.current;
    setBusy(true);
    placing.current = (async () => {
      try {
        const order = await api<Order>('POST', '/orders', { body: {}, headers: { 'Idempotency-Key': checkoutKey() } });
        forgetCheckoutKey();
        notify({ kind: 'info', text: `Order placed: ${money(order.total_cents, order.currency)}, order ${order.id.slice(0, 8)}.`, keep: true });
        go('/orders');
      } catch (err) {
        // A refusal is the attempt's outcome; a lost answer, a 5xx or a 429 is retried with the same key.
        if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429 && err.code !== 'IDEMPOTENCY_IN_PROGRESS') forgetCheckoutKey();
        notify({ kind: 'error', text: explain(err, names) });
      } finally {
        placing.current = null;
        setBusy(false);
      }
    })();
    return placing.current;
  };

  return (
    <section aria-labelledby="cart-title">
      <h1 id="cart-title">Your cart</h1>
      {!cart ? (
        <p>Loading…</p>
      ) : cart.items.length === 0 ? (
        <p>
          Your cart is empty. <a href="#/">Browse the catalog</a>
        </p>
      ) : (
        <>
          <table>
            <caption class="sr-only">Products in your cart</caption>
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">Price</th>
                <th scope="col">Quantity</th>
                <th scope="col">Total</th>
                <th scope="col"><span class="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {cart.items.map((line) => (
                <tr key={line.product_id}>
                  <th scope="row">
                    <a href={`#/product/${line.product_id}`}>{line.name}</a>
                  </th>
                  <td>{money(line.price_cents, cart.currency)}</td>
                  <td>
                    <input
                      type="number"
                      min={1}
                      max={99}
                      aria-label={`Quantity of ${line.name}`}
                      value={line.quantity}
                      disabled={busy}
                      onChange={(e) => {
                        const quantity = Number((e.target as HTMLInputElement).value);
                        if (quantity >= 1 && quantity <= 99) void change(() => api('PUT', `/cart/items/${line.product_id}`, { body: { quantity } }));
                      }}
                    />
                  </td>
                  <td>{money(line.line_total_cents, cart.currency)}</td>
                  <td>
                    <button type="button" disabled={busy} aria-label={`Remove ${line.name}`} onClick={() => change(() => api('DELETE', `/cart/items/${line.product_id}`))}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="total">
            Total: <strong data-testid="cart-total">{money(cart.total_cents, cart.currency)}</strong>
          </p>
          <button type="button" class="primary" disabled={busy} onClick={() => void checkout()}>
            Place order
          </button>
        </>
      )}
    </section>
  );
}

function OrdersPage({ session, notify }: { session: Session | null; notify: Notify }) {
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const [page, setPage] = useState<Page<Order> | null>(null);
  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    if (!session) return;
    api<Page<Order>>('GET', `/orders?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      .then(setPage)
      .catch((err) => notify({ kind: 'error', text: explain(err) }));
  }, [cursor, session?.token]);
  if (!session)
    return (
      <section>
        <h1>Your orders</h1>
        <p>
          <a href="#/signin">Sign in</a> to see your orders.
        </p>
      </section>
    );
  const cancel = async (order: Order) => {
    try {
      const cancelled = await api<Order>('POST', `/orders/${order.id}/cancel`);
      setPage((p) => p && { ...p, items: p.items.map((o) => (o.id === order.id ? cancelled : o)) });
      notify({ kind: 'info', text: `Order ${order.id.slice(0, 8)} is cancelled; its stock is back on sale.` });
    } catch (err) {
      notify({ kind: 'error', text: explain(err) });
    }
  };
  return (
    <section aria-labelledby="orders-title">
      <h1 id="orders-title">Your orders</h1>
      {!page ? (
        <p>Loading…</p>
      ) : page.items.length === 0 ? (
        <p>No orders yet.</p>
      ) : (
        <ul class="orders" aria-label="Orders">
          {page.items.map((o) => (
            <li class="card" key={o.id} data-order-id={o.id}>
              <h2>
                Order {o.id.slice(0, 8)} <span class={`status ${o.status}`}>{o.status}</span>
              </h2>
              <p class="muted">{new Date(o.created_at).toLocaleString('en-US')}</p>
              <ul>
                {o.items.map((l) => (
                  <li>
                    {l.quantity} × {l.name}: {money(l.line_total_cents, o.currency)}
                  </li>
                ))}
              </ul>
              <p>Total: {money(o.total_cents, o.currency)}</p>
              {o.status === 'confirmed' && (
                <button type="button" onClick={() => cancel(o)} aria-label={`Cancel order ${o.id.slice(0, 8)}`}>
                  Cancel order
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
          Newer orders
        </button>
        <button type="button" disabled={!page?.next_cursor} onClick={() => page?.next_cursor && setCursors([...cursors, page.next_cursor])}>
          Older orders
        </button>
      </nav>
    </section>
  );
}

render(<App />, document.getElementById('app')!);
