"""MSO sessions and their refunds: each provider's gateway chosen from the settings (the
sandbox only in the embedded mode), refunds driven as side effects."""

from __future__ import annotations

from typing import Any

from dependency_injector import containers, providers

from adapters.sandbox.gateway import sandbox_gateway
from admin_core.kernel.runtime import Clock, IdGenerator
from admin_core.payments.model import PaymentProvider
from admin_core.payments.ports import PaymentGateway
from admin_core.payments.refunds import GatewayRegistry, SessionRefunds
from admin_core.payments.session_payments import SessionPayments
from admin_core.payments.use_cases import (
    ListMsoSessions,
    ReconcileRefunds,
    RefundSession,
)
from entrypoints.container import choices
from entrypoints.container.resources import Resources
from entrypoints.settings import Settings


def _gateways(
    settings: Settings, transactions: Any, clock: Clock, ids: IdGenerator, resources: Resources
) -> GatewayRegistry:
    built: dict[PaymentProvider, PaymentGateway] = {}
    sandbox = None
    for provider, kind in choices.payment_gateways(settings).items():
        gateway: PaymentGateway
        if kind == "stripe":
            from adapters.stripe.refunds import StripePaymentGateway

            assert settings.stripe_api_key is not None
            stripe = StripePaymentGateway(
                api_key=settings.stripe_api_key,
                api_base=settings.stripe_api_url,
                timeout_seconds=settings.payment_timeout_seconds,
            )
            resources.add("Stripe client", stripe.aclose)
            gateway = stripe
        elif kind == "razorpay":
            from adapters.razorpay.refunds import RazorpayPaymentGateway

            assert settings.razorpay_key_id is not None
            assert settings.razorpay_key_secret is not None
            razorpay = RazorpayPaymentGateway(
                key_id=settings.razorpay_key_id,
                key_secret=settings.razorpay_key_secret,
                api_base=settings.razorpay_api_url,
                timeout_seconds=settings.payment_timeout_seconds,
            )
            resources.add("Razorpay client", razorpay.aclose)
            gateway = razorpay
        elif kind == "sandbox":
            sandbox = sandbox or sandbox_gateway(transactions, clock, ids)
            gateway = sandbox
        else:
            continue
        built[PaymentProvider(provider)] = gateway
    return GatewayRegistry(built)


class PaymentsArea(containers.DeclarativeContainer):
    runtime = providers.DependenciesContainer()
    database = providers.DependenciesContainer()
    side_effects = providers.DependenciesContainer()

    gateways = providers.Singleton(
        _gateways,
        runtime.settings,
        database.transactions,
        runtime.clock,
        runtime.ids,
        runtime.resources,
    )
    payments = providers.Singleton(
        SessionPayments,
        transactions=database.transactions,
        refunds=providers.Singleton(SessionRefunds, gateways=gateways),
        side_effects=side_effects.runner,
        clock=runtime.clock,
    )
    list_mso_sessions = providers.Factory(
        ListMsoSessions,
        payments=payments,
        tenants=database.known_tenants,
    )
    refund_session = providers.Factory(RefundSession, payments=payments)
    reconcile_refunds = providers.Factory(ReconcileRefunds, payments=payments)
