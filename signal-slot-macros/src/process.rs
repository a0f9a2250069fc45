//! `#[signal_slot::init]` and `#[signal_slot::main]`: what a process started
//! by spawn needs of the user's code. The runtime does the work; these only
//! register an init function under its path, and call the runtime first
//! thing in `main`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReturnType};

/// Turns `fn name(event_loop: &LoopHandle, args..) { .. }` into the unit
/// struct `name` implementing `ProcessInit`, registered by path.
pub(crate) fn init(args: TokenStream, item: ItemFn) -> syn::Result<TokenStream> {
    let mut errors = Vec::new();
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(
            &args,
            "#[signal_slot::init] takes no arguments",
        ));
    }
    let sig = &item.sig;
    if let Some(asyncness) = sig.asyncness {
        errors.push(syn::Error::new(
            asyncness.span(),
            "an init function cannot be async: it runs before the loop",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "an init function cannot be generic: a process started by spawn finds it by name",
        ));
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        errors.push(syn::Error::new_spanned(
            ty,
            "an init function returns nothing (it may panic: the process then ends with \
             `ExitStatus::InitFailed`)",
        ));
    }
    let mut inputs = sig.inputs.iter();
    let event_loop = match inputs.next() {
        Some(FnArg::Typed(typed)) if matches!(*typed.ty, syn::Type::Reference(_)) => {
            Some((&typed.pat, &typed.ty))
        }
        Some(other) => {
            errors.push(syn::Error::new_spanned(
                other,
                "the first parameter of an init function is the loop: `event_loop: &LoopHandle`",
            ));
            None
        }
        None => {
            errors.push(syn::Error::new_spanned(
                sig,
                "an init function takes the loop first: `fn name(event_loop: &LoopHandle, ..)`",
            ));
            None
        }
    };
    let mut patterns: Vec<&Pat> = Vec::new();
    let mut types = Vec::new();
    for input in inputs {
        match input {
            FnArg::Typed(typed) => {
                patterns.push(&typed.pat);
                types.push(&typed.ty);
            }
            FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                receiver,
                "an init function is a free function, without `self`",
            )),
        }
    }
    if let Some(error) = errors.into_iter().reduce(|mut all, error| {
        all.combine(error);
        all
    }) {
        return Err(error);
    }
    let (event_loop, event_loop_type) = event_loop.expect("checked above");
    let (args_type, args_pattern) = match (types.as_slice(), patterns.as_slice()) {
        ([], []) => (quote!(()), quote!(())),
        ([ty], [pattern]) => (quote!(#ty), quote!(#pattern)),
        (types, patterns) => (quote!((#(#types,)*)), quote!((#(#patterns,)*))),
    };
    let name = &sig.ident;
    let vis = &item.vis;
    let attrs = &item.attrs;
    let body = &item.block;
    let args = format_ident!("__signal_slot_args");
    Ok(quote! {
        #(#attrs)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        #vis struct #name;

        impl ::signal_slot::ProcessInit for #name {
            type Args = #args_type;
            const KEY: &'static str =
                ::core::concat!(
                    ::core::module_path!(), "::", ::core::stringify!(#name), "@", ::core::line!()
                );

            fn run(#event_loop: #event_loop_type, #args: Self::Args) {
                let #args_pattern = #args;
                #body
            }
        }

        ::signal_slot::__private::inventory::submit! {
            ::signal_slot::__private::travel::InitFunction::of::<#name>()
        }
    })
}

/// Calls `signal_slot::init_process()` first thing in `main`.
pub(crate) fn main(args: TokenStream, mut item: ItemFn) -> syn::Result<TokenStream> {
    if !args.is_empty() {
        return Err(syn::Error::new_spanned(
            &args,
            "#[signal_slot::main] takes no arguments",
        ));
    }
    if item.sig.ident != "main" {
        return Err(syn::Error::new_spanned(
            &item.sig.ident,
            "#[signal_slot::main] goes on the program's `main`",
        ));
    }
    let first: syn::Stmt = syn::parse_quote!(::signal_slot::init_process(););
    item.block.stmts.insert(0, first);
    Ok(quote!(#item))
}
