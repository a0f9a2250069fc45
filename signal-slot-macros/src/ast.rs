//! The model of an annotated struct and `impl` block, parsed and checked.
//!
//! Every check collects its error with the span of the offending tokens and
//! parsing goes on, so that a user sees all problems of an item at once.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, Ident, ImplItem, ItemImpl, ItemStruct, Pat, ReturnType, Signature, Type,
    Visibility,
};

/// Names that generated handle methods may not take, because the handle
/// already has a method of that name (through `Deref` to `ObjectHandle`), or
/// because a slot's context uses it.
const RESERVED: &[&str] = &[
    "id",
    "loop_name",
    "type_name",
    "detach",
    "subscribe",
    "unsubscribe",
    "object_handle",
    "event_loop",
    "sender",
    "stop_loop",
    "handle",
    "clone",
    "deref",
    "to_owned",
];

/// A rejected item: all its errors, and the item to emit beside them so that
/// no other error cascades from its absence.
pub(crate) type Rejected<T> = Box<(syn::Error, T)>;

/// Collects errors, combining them into one `syn::Error`.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// The head of an item (its keyword and name), for error spans that do not
/// cover a whole body.
pub(crate) fn item_head(item: &syn::Item) -> TokenStream {
    use syn::Item;
    match item {
        Item::Enum(item) => {
            let (token, ident) = (&item.enum_token, &item.ident);
            quote::quote!(#token #ident)
        }
        Item::Union(item) => {
            let (token, ident) = (&item.union_token, &item.ident);
            quote::quote!(#token #ident)
        }
        Item::Fn(item) => item.sig.to_token_stream(),
        Item::Trait(item) => {
            let (token, ident) = (&item.trait_token, &item.ident);
            quote::quote!(#token #ident)
        }
        other => other.to_token_stream(),
    }
}

// ---------------------------------------------------------------------------
// The struct

/// A struct annotated with `#[event_loop_object]`.
pub(crate) struct ObjectStruct {
    pub item: ItemStruct,
}

impl ObjectStruct {
    pub fn parse(args: TokenStream, item: ItemStruct) -> Result<Self, Rejected<ItemStruct>> {
        let mut errors = Errors::default();
        if !args.is_empty() {
            errors.spanned(&args, "#[event_loop_object] takes no arguments");
        }
        if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
            errors.spanned(
                &item.generics,
                "an event loop object cannot be generic: its slots are dispatched by name \
                 from other threads and processes, so its type must be concrete",
            );
        }
        match errors.finish() {
            Ok(()) => Ok(ObjectStruct { item }),
            Err(error) => Err(Box::new((error, item))),
        }
    }

    pub fn ident(&self) -> &Ident {
        &self.item.ident
    }

    pub fn vis(&self) -> &Visibility {
        &self.item.vis
    }
}

/// The name of the handle type generated for an object type.
pub(crate) fn handle_ident(object: &Ident) -> Ident {
    Ident::new(&format!("{object}Handle"), object.span())
}

/// The name of the signal type generated for a signal of an object type.
pub(crate) fn signal_struct_ident(object: &Ident, signal: &Ident) -> Ident {
    let camel: String = signal
        .to_string()
        .trim_start_matches("r#")
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect();
    Ident::new(&format!("{object}{camel}Signal"), signal.span())
}

// ---------------------------------------------------------------------------
// The impl block

/// An argument of a signal or slot: a name and a type.
pub(crate) struct Arg {
    pub ident: Ident,
    pub ty: Type,
}

/// `#[signal] fn name(arg: Type, ..);`
pub(crate) struct SignalDecl {
    pub ident: Ident,
    pub docs: Vec<Attribute>,
    pub args: Vec<Arg>,
}

/// `#[slot] fn name(&mut self, [ctx: &mut Context<Self>,] arg: Type, ..) [-> R]`
pub(crate) struct SlotDecl {
    pub ident: Ident,
    pub has_context: bool,
    pub args: Vec<Arg>,
    pub output: ReturnType,
    pub span: Span,
}

impl SlotDecl {
    /// The type of the value the slot gives back to a caller: its return
    /// type, unless that is `()` or `Result<(), E>` (a slot that reports
    /// an error, and whose callers get `()`).
    pub(crate) fn reply_type(&self) -> Option<&syn::Type> {
        let ReturnType::Type(_, ty) = &self.output else {
            return None;
        };
        let is_unit =
            |ty: &syn::Type| matches!(ty, syn::Type::Tuple(tuple) if tuple.elems.is_empty());
        if is_unit(ty) {
            return None;
        }
        if let syn::Type::Path(path) = &**ty
            && let Some(last) = path.path.segments.last()
            && last.ident == "Result"
            && let syn::PathArguments::AngleBracketed(generics) = &last.arguments
            && let Some(syn::GenericArgument::Type(ok)) = generics.args.first()
            && is_unit(ok)
        {
            return None;
        }
        Some(ty)
    }
}

/// An `impl` block annotated with `#[event_loop_object]`.
pub(crate) struct ObjectImpl {
    /// The user's impl block, without the signal declarations and with the
    /// `#[slot]` markers removed.
    pub item: ItemImpl,
    /// The last segment of the self type (`A` in `impl crate::a::A`).
    pub self_ident: Ident,
    /// The self type's path with its last segment replaced by the handle's.
    pub handle_path: syn::Path,
    pub signals: Vec<SignalDecl>,
    pub slots: Vec<SlotDecl>,
}

enum Marker {
    Signal,
    Slot,
    None,
}

fn take_marker(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> Marker {
    let mut marker = Marker::None;
    attrs.retain(|attr| {
        let found = if attr.path().is_ident("signal") {
            Marker::Signal
        } else if attr.path().is_ident("slot") {
            Marker::Slot
        } else {
            return true;
        };
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            errors.spanned(attr, "#[signal] and #[slot] take no arguments");
        }
        if !matches!(marker, Marker::None) {
            errors.spanned(attr, "a method is either one #[signal] or one #[slot]");
        }
        marker = found;
        false
    });
    marker
}

impl ObjectImpl {
    pub fn parse(args: TokenStream, mut item: ItemImpl) -> Result<Self, Rejected<ItemImpl>> {
        let mut errors = Errors::default();
        if !args.is_empty() {
            errors.spanned(&args, "#[event_loop_object] takes no arguments");
        }
        if let Some((_, path, _)) = &item.trait_ {
            errors.spanned(
                path,
                "#[event_loop_object] goes on an inherent `impl` block, not a trait impl",
            );
        }
        if !item.generics.params.is_empty() {
            errors.spanned(&item.generics, "an event loop object cannot be generic");
        }
        let self_path = match &*item.self_ty {
            Type::Path(path) if path.qself.is_none() => Some(path.path.clone()),
            other => {
                errors.spanned(other, "expected the name of the object's struct");
                None
            }
        };

        let mut signals = Vec::new();
        let mut slots = Vec::new();
        let mut kept = Vec::with_capacity(item.items.len());
        for impl_item in std::mem::take(&mut item.items) {
            match impl_item {
                ImplItem::Fn(mut function) => match take_marker(&mut function.attrs, &mut errors) {
                    Marker::Signal => {
                        errors.spanned(
                            &function.block,
                            "a signal is a declaration without a body: write \
                             `#[signal] fn name(arg: Type, ..);`",
                        );
                    }
                    Marker::Slot => {
                        slots.push(parse_slot(&function.sig, &mut errors));
                        kept.push(ImplItem::Fn(function));
                    }
                    Marker::None => kept.push(ImplItem::Fn(function)),
                },
                // `fn name(..);` is not valid in an impl block, so syn keeps
                // it verbatim; it has the shape of a foreign function.
                ImplItem::Verbatim(tokens) => {
                    match syn::parse2::<syn::ForeignItemFn>(tokens.clone()) {
                        Ok(mut function) => match take_marker(&mut function.attrs, &mut errors) {
                            Marker::Signal => {
                                signals.push(parse_signal(function, &mut errors));
                            }
                            Marker::Slot => errors.spanned(
                                &function.sig,
                                "a slot needs a body; a declaration without a body is a #[signal]",
                            ),
                            Marker::None => errors.spanned(
                                &function.sig,
                                "a method without a body: mark signal declarations with #[signal]",
                            ),
                        },
                        _ => kept.push(ImplItem::Verbatim(tokens)),
                    }
                }
                other => kept.push(other),
            }
        }
        item.items = kept;

        check_names(&signals, &slots, &mut errors);

        match (errors.finish(), self_path) {
            (Ok(()), Some(self_path)) => {
                let self_ident = self_path
                    .segments
                    .last()
                    .map(|segment| segment.ident.clone())
                    .expect("a type path has at least one segment");
                let mut handle_path = self_path;
                if let Some(last) = handle_path.segments.last_mut() {
                    last.ident = handle_ident(&self_ident);
                    last.arguments = syn::PathArguments::None;
                }
                Ok(ObjectImpl {
                    item,
                    self_ident,
                    handle_path,
                    signals,
                    slots,
                })
            }
            (Err(error), _) => Err(Box::new((error, item))),
            (Ok(()), None) => unreachable!("a missing self path is reported as an error"),
        }
    }
}

fn parse_args<'a>(
    inputs: impl Iterator<Item = &'a FnArg>,
    what: &str,
    errors: &mut Errors,
) -> Vec<Arg> {
    let mut args = Vec::new();
    for (index, input) in inputs.enumerate() {
        let FnArg::Typed(typed) = input else {
            continue;
        };
        let ident = match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => pat.ident.clone(),
            Pat::Wild(wild) => Ident::new(&format!("_arg{index}"), wild.span()),
            other => {
                errors.spanned(
                    other,
                    format!("{what} arguments are plain names: write `name: Type`"),
                );
                continue;
            }
        };
        if let Type::Reference(reference) = &*typed.ty {
            errors.spanned(
                reference,
                format!(
                    "{what} arguments are owned values (they cross threads and processes); \
                     use an owned type instead of a reference"
                ),
            );
            continue;
        }
        if let Type::ImplTrait(_) = &*typed.ty {
            errors.spanned(&typed.ty, format!("{what} arguments need a concrete type"));
            continue;
        }
        args.push(Arg {
            ident,
            ty: (*typed.ty).clone(),
        });
    }
    args
}

fn check_signature_basics(sig: &Signature, what: &str, errors: &mut Errors) {
    if let Some(token) = &sig.asyncness {
        errors.spanned(token, format!("a {what} cannot be async"));
    }
    if let Some(token) = &sig.constness {
        errors.spanned(token, format!("a {what} cannot be const"));
    }
    if let Some(token) = &sig.unsafety {
        errors.spanned(token, format!("a {what} cannot be unsafe"));
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, format!("a {what} cannot have an ABI"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            format!("a {what} cannot be generic: its arguments must have concrete types"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, format!("a {what} cannot be variadic"));
    }
}

/// Parses a signal declaration, recording its errors (any error rejects
/// the whole item, so the declaration is returned regardless).
fn parse_signal(function: syn::ForeignItemFn, errors: &mut Errors) -> SignalDecl {
    let sig = &function.sig;
    check_signature_basics(sig, "signal", errors);
    if let Some(receiver) = sig.receiver() {
        errors.spanned(
            receiver,
            "a signal has no receiver: declare it as `#[signal] fn name(arg: Type, ..);` \
             and emit it through a handle or a slot's context",
        );
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        errors.spanned(ty, "a signal returns nothing: it is emitted, not called");
    }
    let mut docs = Vec::new();
    for attr in function.attrs {
        if attr.path().is_ident("doc") {
            docs.push(attr);
        } else {
            errors.spanned(
                &attr,
                "only doc comments are allowed on a signal declaration",
            );
        }
    }
    let args = parse_args(sig.inputs.iter(), "signal", errors);
    SignalDecl {
        ident: sig.ident.clone(),
        docs,
        args,
    }
}

/// True if `ty` is `&Context<..>` or `&mut Context<..>` (by the last path
/// segment, so that `signal_slot::Context<Self>` works too).
fn is_context(ty: &Type) -> bool {
    let Type::Reference(reference) = ty else {
        return false;
    };
    let Type::Path(path) = &*reference.elem else {
        return false;
    };
    path.path
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "Context")
}

/// True if `ty` mentions `Self` anywhere.
fn mentions_self(ty: &Type) -> bool {
    fn walk(tokens: proc_macro2::TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            proc_macro2::TokenTree::Ident(ident) => ident == "Self",
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}

/// Parses a slot's signature, recording its errors (any error rejects the
/// whole item, so the declaration is returned regardless).
fn parse_slot(sig: &Signature, errors: &mut Errors) -> SlotDecl {
    check_signature_basics(sig, "slot", errors);
    match sig.receiver() {
        Some(receiver) if receiver.reference.is_some() => {}
        Some(receiver) => errors.spanned(
            receiver,
            "a slot takes `&mut self` or `&self`: the object stays on its event loop",
        ),
        None => errors.spanned(
            &sig.ident,
            "a slot is a method: its first parameter is `&mut self` or `&self`",
        ),
    }
    let mut inputs: Vec<&FnArg> = sig
        .inputs
        .iter()
        .filter(|arg| matches!(arg, FnArg::Typed(_)))
        .collect();
    let has_context = match inputs.first() {
        Some(FnArg::Typed(first)) if is_context(&first.ty) => {
            inputs.remove(0);
            true
        }
        _ => false,
    };
    for input in &inputs {
        if let FnArg::Typed(typed) = input
            && is_context(&typed.ty)
        {
            errors.spanned(
                &typed.ty,
                "the context must be the first parameter after `self`",
            );
        }
    }
    let args = parse_args(inputs.into_iter(), "slot", errors);
    if let ReturnType::Type(_, ty) = &sig.output
        && mentions_self(ty)
    {
        errors.spanned(
            ty,
            "name the type instead of `Self` in a slot's return type: the value goes to \
             callers through the object's handle, where `Self` is the handle",
        );
    }
    SlotDecl {
        ident: sig.ident.clone(),
        has_context,
        args,
        output: sig.output.clone(),
        span: sig.ident.span(),
    }
}

fn check_names(signals: &[SignalDecl], slots: &[SlotDecl], errors: &mut Errors) {
    let mut seen: Vec<(String, &Ident, &str)> = Vec::new();
    let names = signals
        .iter()
        .map(|signal| (&signal.ident, "signal"))
        .chain(slots.iter().map(|slot| (&slot.ident, "slot")));
    for (ident, what) in names {
        let name = ident.to_string();
        if RESERVED.contains(&name.as_str()) {
            errors.spanned(
                ident,
                format!(
                    "`{name}` is a method of every object handle; rename this {what} \
                     (reserved names: {})",
                    RESERVED.join(", ")
                ),
            );
        }
        if let Some((_, _, first)) = seen.iter().find(|(seen, _, _)| *seen == name) {
            errors.spanned(
                ident,
                format!("duplicate name `{name}`: this {what} has the name of an earlier {first}"),
            );
        } else {
            seen.push((name, ident, what));
        }
    }
}
