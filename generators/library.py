"""The function library: 64 functions over 16 domains, each with a JSON Schema and phrasings.

Across the library the parameters use every type users meet: string, enum, integer, number,
boolean, array and nested object, required and optional, all with ``additionalProperties:
false``. The last phrasing of every function is held out of training, and so are whole
domains and a few single functions (see ``HELD_OUT_*``): the benchmark is built from them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fcbench.generators.params import Distinct, FreeOf, OnlyIf, Ordered, Param, Rule, Sampler, array, choice, flag, integer, number, obj, state, text

CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "INR", "BRL", "MXN", "ZAR", "SGD"]
TICKERS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "TSLA", "META", "NFLX", "AMD", "INTC", "ORCL", "IBM", "SAP", "SONY"]


@dataclass(frozen=True, slots=True, eq=False)  # identity: each function exists once
class FunctionDef:
    name: str
    domain: str
    description: str
    params: tuple[Param, ...]
    phrasings: tuple[str, ...]
    rules: tuple[Rule, ...] = ()
    """Argument sets the generator never emits (degenerate requests); see generators/params.py."""

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def broken_rules(self, arguments: dict[str, Any]) -> list[Rule]:
        return [rule for rule in self.rules if rule.violated(arguments)]

    def spec(self) -> dict[str, Any]:
        """The function as offered in a record: name, description, JSON Schema parameters."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": {
                "type": "object",
                "properties": {p.name: p.json_schema() for p in self.params},
                "required": [p.name for p in self.params if p.required],
                "additionalProperties": False,
            },
        }


def fn(name: str, domain: str, description: str, params: list[Param], phrasings: list[str]) -> FunctionDef:
    """A function, with its rules (:data:`RULES`) and the benchmark's own clause wordings
    (:data:`HELD_OUT_CLAUSES`) attached."""
    params = [dataclasses.replace(p, held_out_clause=HELD_OUT_CLAUSES[(name, p.name)]) if (name, p.name) in HELD_OUT_CLAUSES else p for p in params]
    return FunctionDef(name, domain, description, tuple(params), tuple(phrasings), RULES.get(name, ()))


DIETS = ("vegetarian", "vegan", "gluten_free")
RULES: dict[str, tuple[Rule, ...]] = {
    "convert_currency": (Distinct("from_currency", "to_currency"),),
    "get_exchange_rate": (Distinct("base", "quote"),),
    "get_currency_history": (Distinct("base", "quote"),),
    "set_rate_alert": (Distinct("base", "quote"),),
    "convert_length": (Distinct("from_unit", "to_unit"),),
    "convert_temperature": (Distinct("from_scale", "to_scale"),),
    "convert_weight": (Distinct("from_unit", "to_unit"),),
    "convert_volume": (Distinct("from_unit", "to_unit"),),
    "search_flights": (Distinct("origin", "destination"),),
    "get_directions": (Distinct("origin", "destination"),),
    "estimate_travel_time": (Distinct("origin", "destination"),),
    "get_match_score": (Distinct("home_team", "away_team"),),
    "buy_match_tickets": (Distinct("home_team", "away_team"),),
    "set_out_of_office": (Ordered("start_date", "end_date"),),
    "get_stock_history": (Ordered("start_date", "end_date"),),
    "control_lights": (OnlyIf("brightness", "on", True),),
    "find_recipe": (FreeOf("dish", ("vegan", "vegetarian", "gluten")),),
    "scale_recipe": (FreeOf("recipe_name", ("vegan", "vegetarian", "gluten")),),
}
"""Degenerate requests the generator redraws: each names the arguments it relates."""

HELD_OUT_CLAUSES: dict[tuple[str, str], str | tuple[str, str]] = {
    ("get_current_weather", "unit"): ", units: {unit}",
    ("get_weather_forecast", "include_hourly"): (", hour by hour", ""),
    ("get_air_quality", "pollutant"): ", looking at {pollutant}",
    ("get_exchange_rate", "date"): " as of {date}",
    ("create_event", "duration_minutes"): ", {duration_minutes} minutes long",
    ("create_event", "attendees"): ", inviting {attendees}",
    ("list_events", "limit"): ", no more than {limit}",
    ("delete_event", "notify_attendees"): (" and notify everyone invited", ""),
    ("send_email", "urgent"): (", flagged as urgent", ""),
    ("search_emails", "sender"): " sent by {sender}",
    ("search_emails", "unread_only"): (", just the unread ones", ""),
    ("create_email_filter", "mark_read"): (", marking them as read", ""),
    ("set_out_of_office", "message"): " with the reply \"{message}\"",
    ("search_flights", "passengers"): ", {passengers[adults]} adults plus {passengers[children]} children",
    ("search_flights", "cabin"): ", {cabin} class",
    ("book_flight", "seat_preference"): ", {seat_preference} seat please",
    ("cancel_flight_booking", "refund_to_card"): (" with the refund going to my card", ""),
    ("search_hotels", "max_price"): ", at most {max_price} per night",
    ("search_hotels", "amenities"): " that has {amenities}",
    ("book_hotel_room", "guests"): ", {guests} people staying",
    ("get_hotel_reviews", "min_rating"): ", only {min_rating} stars and up",
    ("cancel_hotel_booking", "reason"): ", the reason being \"{reason}\"",
    ("get_directions", "mode"): ", travel mode {mode}",
    ("get_directions", "avoid_tolls"): (", no toll roads", ""),
    ("find_nearby_places", "radius_m"): ", no further than {radius_m} metres",
    ("get_stock_price", "exchange"): ", the {exchange} listing",
    ("get_stock_history", "interval"): ", one bar every {interval}",
    ("place_stock_order", "limit_price"): ", limit price {limit_price}",
    ("compute_statistics", "measures"): ", giving me the {measures}",
    ("compound_interest", "compounds_per_year"): ", with {compounds_per_year} compounding periods a year",
    ("play_song", "artist"): ", the {artist} version",
    ("play_song", "shuffle"): (", then shuffle", ""),
    ("create_playlist", "public"): (", visible to everyone", ""),
    ("set_volume", "device"): ", on my {device}",
    ("set_thermostat", "mode"): ", mode {mode}",
    ("control_lights", "on"): (" to on", " to off"),
    ("control_lights", "brightness"): ", dimmed to {brightness}%",
    ("lock_door", "auto_relock_minutes"): " and relock it {auto_relock_minutes} minutes later",
    ("schedule_robot_vacuum", "power"): ", power level {power}",
    ("search_products", "max_price"): ", costing no more than {max_price}",
    ("search_products", "sort_by"): ", ordered by {sort_by}",
    ("track_order", "notify_on_delivery"): (", and notify me on delivery", ""),
    ("apply_coupon", "cart_id"): " for cart {cart_id}",
    ("get_headlines", "country"): " from {country}",
    ("get_headlines", "limit"): ", just {limit} of them",
    ("search_news", "from_date"): ", published after {from_date}",
    ("search_news", "language"): ", language: {language}",
    ("summarize_article", "max_sentences"): ", {max_sentences} sentences at most",
    ("subscribe_newsletter", "topics"): " covering {topics}",
}
"""The benchmark's wording of each seen function's optional clause: the seen-function half of
the benchmark tests phrasings training never saw, clauses included."""


def _city(s: Sampler) -> str:
    return s.fake.city()


def _person(s: Sampler) -> str:
    return s.fake.name()


def _money(s: Sampler) -> float | int:
    return s.rng.choice([s.rng.randint(5, 5000), round(s.rng.uniform(1, 2000), 2)])


def _time(s: Sampler) -> str:
    return f"{s.rng.randint(7, 21):02d}:{s.rng.choice(['00', '15', '30', '45'])}"


def _song(s: Sampler) -> str:
    return s.fake.catch_phrase().title()


def _product(s: Sampler) -> str:
    return f"{s.fake.color_name().lower()} {s.rng.choice(['backpack', 'desk lamp', 'kettle', 'running shoes', 'headphones', 'yoga mat', 'water bottle', 'umbrella', 'blender', 'office chair'])}"


def _team(s: Sampler) -> str:
    return f"{s.fake.city()} {s.rng.choice(['Falcons', 'Rovers', 'United', 'Tigers', 'Comets', 'Wolves', 'Harbor FC', 'Athletic'])}"


FOODS = (
    "apple", "banana", "oats", "brown rice", "quinoa", "lentils", "chickpeas", "tofu", "salmon", "tuna", "chicken breast",
    "beef mince", "eggs", "greek yogurt", "cheddar", "almonds", "walnuts", "peanut butter", "avocado", "broccoli", "spinach",
    "sweet potato", "carrots", "blueberries", "mango", "wholemeal bread", "pasta", "potatoes", "mushrooms", "dark chocolate",
)
"""Real foods: a question about the nutrition of a random word has no right answer."""
INGREDIENTS = ("mushroom", "chickpea", "lentil", "pumpkin", "chicken", "salmon", "spinach", "tomato", "beef", "prawn", "aubergine", "tofu")


def _dish(s: Sampler) -> str:
    # No diet words among the adjectives: a "vegan" dish would contradict a diet argument.
    return f"{s.rng.choice(['spicy', 'creamy', 'smoky', 'lemony', 'garlic', 'roasted', 'crispy', 'herby'])} {s.rng.choice(INGREDIENTS)} {s.rng.choice(['stew', 'pasta', 'curry', 'salad', 'tacos', 'soup', 'risotto', 'pie'])}"


LIBRARY: tuple[FunctionDef, ...] = (
    # --- weather -------------------------------------------------------------------------------
    fn("get_current_weather", "weather", "Current weather conditions for a city.",
       [text("city", _city, "City name."), choice("unit", ["celsius", "fahrenheit"], "Temperature unit.", " in {unit}")],
       ["What's the weather like in {city} right now{opt}?", "Current conditions for {city}{opt}, please.", "Is it cold in {city} at the moment{opt}?", "Tell me how the weather is in {city} today{opt}."]),
    fn("get_weather_forecast", "weather", "Daily weather forecast for a city.",
       [text("city", _city, "City name."), integer("days", 1, 14, "Number of days to forecast."), flag("include_hourly", "Add an hourly breakdown.", " with an hourly breakdown")],
       ["Give me a {days}-day forecast for {city}{opt}.", "What will the weather be in {city} over the next {days} days{opt}?", "Forecast for {city}, {days} days ahead{opt}.", "I'm travelling to {city}: how does the next {days} days look weather-wise{opt}?"]),
    fn("get_air_quality", "weather", "Air quality index for a city.",
       [text("city", _city, "City name."), choice("pollutant", ["pm25", "pm10", "ozone", "no2"], "Pollutant to report.", " for {pollutant}")],
       ["How clean is the air in {city}{opt}?", "Air quality index in {city}{opt}, please.", "Check the pollution level in {city}{opt}.", "Is the air in {city} safe to breathe today{opt}?"]),
    fn("get_uv_index", "weather", "UV index for a city on a date.",
       [text("city", _city, "City name."), text("date", Sampler.date, "Date, YYYY-MM-DD.")],
       ["What's the UV index in {city} on {date}?", "How strong will the sun be in {city} on {date}?", "UV forecast for {city}, {date}.", "Do I need sunscreen in {city} on {date}? Check the UV index."]),
    # --- currency ------------------------------------------------------------------------------
    fn("convert_currency", "currency", "Convert an amount of money between currencies.",
       [number("amount", 1, 5000, "Amount to convert."), choice("from_currency", CURRENCIES, "ISO code to convert from."), choice("to_currency", CURRENCIES, "ISO code to convert to.")],
       ["Convert {amount} {from_currency} to {to_currency}.", "How much is {amount} {from_currency} in {to_currency}?", "I have {amount} {from_currency}; what is that in {to_currency}?", "Change {amount} {from_currency} into {to_currency} for me."]),
    fn("get_exchange_rate", "currency", "Exchange rate between two currencies, optionally on a past date.",
       [choice("base", CURRENCIES, "Base currency."), choice("quote", CURRENCIES, "Quote currency."), text("date", Sampler.date, "Date, YYYY-MM-DD.", " on {date}")],
       ["What's the {base} to {quote} exchange rate{opt}?", "Rate for {base}/{quote}{opt}?", "How many {quote} does one {base} buy{opt}?", "Look up the exchange rate from {base} to {quote}{opt}."]),
    fn("get_currency_history", "currency", "Daily rates of a currency pair over a period.",
       [choice("base", CURRENCIES, "Base currency."), choice("quote", CURRENCIES, "Quote currency."), integer("days", 7, 365, "Length of the period in days.")],
       ["Show the {base}/{quote} rate over the last {days} days.", "How has {base} moved against {quote} in the past {days} days?", "History of {base} to {quote} for {days} days, please.", "Chart {base} versus {quote} across the previous {days} days."]),
    fn("set_rate_alert", "currency", "Alert when an exchange rate crosses a threshold.",
       [choice("base", CURRENCIES, "Base currency."), choice("quote", CURRENCIES, "Quote currency."), number("threshold", 0.01, 200, "Rate that triggers the alert.", decimals=3), choice("direction", ["above", "below"], "Trigger when the rate goes above or below.")],
       ["Alert me when {base}/{quote} goes {direction} {threshold}.", "Set a rate alert: {base} to {quote} {direction} {threshold}.", "Notify me if one {base} is worth {direction} {threshold} {quote}.", "Watch {base}/{quote} and ping me once it's {direction} {threshold}."]),
    # --- calendar -----------------------------------------------------------------------------
    fn("create_event", "calendar", "Create a calendar event.",
       [text("title", lambda s: s.fake.catch_phrase(), "Event title."), text("date", Sampler.date, "Date, YYYY-MM-DD."), text("start_time", _time, "Start time, HH:MM."), integer("duration_minutes", 15, 240, "Length in minutes.", " lasting {duration_minutes} minutes"), array("attendees", lambda s: s.fake.email(), "Attendee e-mails.", " and invite {attendees}")],
       ["Schedule '{title}' on {date} at {start_time}{opt}.", "Put '{title}' in my calendar for {date}, {start_time}{opt}.", "Create an event called '{title}' on {date} starting {start_time}{opt}.", "Book my calendar: '{title}', {date} at {start_time}{opt}."]),
    fn("list_events", "calendar", "List calendar events on a date.",
       [text("date", Sampler.date, "Date, YYYY-MM-DD."), integer("limit", 1, 50, "Maximum number of events.", ", at most {limit} of them")],
       ["What's on my calendar on {date}{opt}?", "List my events for {date}{opt}.", "Do I have meetings on {date}{opt}?", "Show my agenda for {date}{opt}."]),
    fn("delete_event", "calendar", "Delete a calendar event by title and date.",
       [text("title", lambda s: s.fake.catch_phrase(), "Event title."), text("date", Sampler.date, "Date, YYYY-MM-DD."), flag("notify_attendees", "Tell the attendees.", " and let the attendees know")],
       ["Cancel '{title}' on {date}{opt}.", "Remove the event '{title}' from {date}{opt}.", "Delete '{title}' scheduled for {date}{opt}.", "Drop '{title}' on {date} from my calendar{opt}."]),
    fn("find_free_slot", "calendar", "Find a free time slot shared by several people.",
       [array("participants", _person, "People who must attend.", low=2, high=4), integer("duration_minutes", 15, 180, "Slot length in minutes."), text("date", Sampler.date, "Date, YYYY-MM-DD.")],
       ["Find {duration_minutes} minutes on {date} when {participants} are all free.", "When can {participants} meet for {duration_minutes} minutes on {date}?", "Look for a free {duration_minutes}-minute slot on {date} for {participants}.", "Is there a common {duration_minutes}-minute gap on {date} for {participants}?"]),
    # --- email --------------------------------------------------------------------------------
    fn("send_email", "email", "Send an e-mail.",
       [array("to", lambda s: s.fake.email(), "Recipient addresses."), text("subject", lambda s: s.fake.bs().capitalize(), "Subject line."), flag("urgent", "Mark as urgent.", " and mark it urgent")],
       ["Email {to} with the subject '{subject}'{opt}.", "Send a message to {to} titled '{subject}'{opt}.", "Write to {to} about '{subject}'{opt}.", "Drop {to} an email, subject '{subject}'{opt}."]),
    fn("search_emails", "email", "Search the mailbox.",
       [text("query", lambda s: s.fake.word(), "Words to search for."), text("sender", lambda s: s.fake.email(), "Only mail from this address.", " from {sender}"), flag("unread_only", "Only unread mail.", ", unread only")],
       ["Find emails mentioning '{query}'{opt}.", "Search my inbox for '{query}'{opt}.", "Any mail about '{query}'{opt}?", "Dig up messages containing '{query}'{opt}."]),
    fn("create_email_filter", "email", "Create a rule that files incoming mail.",
       [text("sender", lambda s: s.fake.email(), "Sender to match."), text("folder", lambda s: s.fake.word().capitalize(), "Destination folder."), flag("mark_read", "Mark matching mail as read.", " and mark them read")],
       ["Move all mail from {sender} into the {folder} folder{opt}.", "Create a filter: {sender} goes to {folder}{opt}.", "File messages from {sender} under {folder}{opt}.", "Route anything {sender} sends me to {folder}{opt}."]),
    fn("set_out_of_office", "email", "Turn on an out-of-office reply.",
       [text("start_date", Sampler.date, "First day away, YYYY-MM-DD."), text("end_date", Sampler.date, "Last day away, YYYY-MM-DD."), text("message", lambda s: s.fake.sentence(nb_words=6), "Reply text.", " saying \"{message}\"")],
       ["Set my out-of-office from {start_date} to {end_date}{opt}.", "I'm away {start_date} until {end_date}; turn on the auto-reply{opt}.", "Enable vacation replies between {start_date} and {end_date}{opt}.", "Auto-respond to email from {start_date} through {end_date}{opt}."]),
    # --- flights -------------------------------------------------------------------------------
    fn("search_flights", "flights", "Search flights between two cities.",
       [text("origin", _city, "Departure city."), text("destination", _city, "Arrival city."), text("date", Sampler.date, "Departure date, YYYY-MM-DD."),
        obj("passengers", [integer("adults", 1, 6, "Adults."), integer("children", 0, 4, "Children.")], "Who is flying.", " for {passengers[adults]} adults and {passengers[children]} children"),
        choice("cabin", ["economy", "premium", "business", "first"], "Cabin class.", " in {cabin}")],
       ["Find flights from {origin} to {destination} on {date}{opt}.", "Any flights {origin} to {destination} on {date}{opt}?", "I need to fly from {origin} to {destination} on {date}{opt}.", "Search for a {date} flight, {origin} to {destination}{opt}."]),
    fn("get_flight_status", "flights", "Status of a flight by number and date.",
       [text("flight_number", lambda s: f"{s.fake.random_uppercase_letter()}{s.fake.random_uppercase_letter()}{s.rng.randint(10, 9999)}", "Flight number."), text("date", Sampler.date, "Date, YYYY-MM-DD.")],
       ["Is flight {flight_number} on {date} on time?", "Status of {flight_number} for {date}?", "Check whether {flight_number} departs as planned on {date}.", "Has {flight_number} on {date} been delayed?"]),
    fn("book_flight", "flights", "Book a seat on a flight.",
       [text("flight_number", lambda s: f"{s.fake.random_uppercase_letter()}{s.fake.random_uppercase_letter()}{s.rng.randint(10, 9999)}", "Flight number."), text("passenger_name", _person, "Full name."), choice("seat_preference", ["window", "aisle", "middle"], "Seat preference.", " with a {seat_preference} seat")],
       ["Book {flight_number} for {passenger_name}{opt}.", "Reserve a seat on {flight_number} for {passenger_name}{opt}.", "Put {passenger_name} on flight {flight_number}{opt}.", "Get {passenger_name} a ticket on {flight_number}{opt}."]),
    fn("cancel_flight_booking", "flights", "Cancel a flight booking.",
       [text("booking_reference", lambda s: s.fake.bothify("??####").upper(), "Booking reference."), flag("refund_to_card", "Refund to the card instead of a voucher.", " and refund it to my card")],
       ["Cancel booking {booking_reference}{opt}.", "Please cancel my flight reservation {booking_reference}{opt}.", "I can't make it: cancel {booking_reference}{opt}.", "Void reservation {booking_reference}{opt}."]),
    # --- hotels --------------------------------------------------------------------------------
    fn("search_hotels", "hotels", "Search hotels in a city.",
       [text("city", _city, "City."), text("check_in", Sampler.date, "Check-in date, YYYY-MM-DD."), integer("nights", 1, 21, "Number of nights."), number("max_price", 40, 900, "Highest price per night.", " under {max_price} a night", decimals=0), array("amenities", lambda s: s.rng.choice(["pool", "gym", "parking", "spa", "wifi", "breakfast"]), "Required amenities.", " with {amenities}", item_schema={"type": "string", "enum": ["pool", "gym", "parking", "spa", "wifi", "breakfast"]})],
       ["Find a hotel in {city} from {check_in} for {nights} nights{opt}.", "I need a place to stay in {city}, checking in {check_in}, {nights} nights{opt}.", "Hotels in {city} for {nights} nights starting {check_in}{opt}?", "Look up {nights}-night stays in {city} from {check_in}{opt}."]),
    fn("book_hotel_room", "hotels", "Book a room at a named hotel.",
       [text("hotel_name", lambda s: f"{s.fake.last_name()} {s.rng.choice(['Inn', 'Suites', 'Grand Hotel', 'Lodge', 'Palace'])}", "Hotel name."), text("check_in", Sampler.date, "Check-in date."), integer("nights", 1, 21, "Nights."), integer("guests", 1, 6, "Guests.", " for {guests} guests")],
       ["Book the {hotel_name} from {check_in} for {nights} nights{opt}.", "Reserve a room at {hotel_name}, {nights} nights from {check_in}{opt}.", "Get me a room at {hotel_name} on {check_in} for {nights} nights{opt}.", "Lock in {nights} nights at {hotel_name} starting {check_in}{opt}."]),
    fn("get_hotel_reviews", "hotels", "Reviews of a hotel.",
       [text("hotel_name", lambda s: f"{s.fake.last_name()} {s.rng.choice(['Inn', 'Suites', 'Grand Hotel', 'Lodge', 'Palace'])}", "Hotel name."), integer("min_rating", 1, 5, "Lowest star rating to include.", " rated at least {min_rating} stars")],
       ["Show reviews for the {hotel_name}{opt}.", "What do guests say about {hotel_name}{opt}?", "Read me reviews of {hotel_name}{opt}.", "How is {hotel_name} reviewed{opt}?"]),
    fn("cancel_hotel_booking", "hotels", "Cancel a hotel booking.",
       [text("confirmation_code", lambda s: s.fake.bothify("H-#####"), "Confirmation code."), text("reason", lambda s: s.fake.sentence(nb_words=4), "Why.", " because \"{reason}\"")],
       ["Cancel hotel booking {confirmation_code}{opt}.", "Please cancel my stay {confirmation_code}{opt}.", "Call off reservation {confirmation_code}{opt}.", "I want to cancel room booking {confirmation_code}{opt}."]),
    # --- maps ----------------------------------------------------------------------------------
    fn("get_directions", "maps", "Directions between two places.",
       [text("origin", lambda s: s.fake.street_address(), "Start address."), text("destination", lambda s: s.fake.street_address(), "End address."), choice("mode", ["driving", "walking", "cycling", "transit"], "Travel mode.", " by {mode}"), flag("avoid_tolls", "Avoid toll roads.", " avoiding tolls")],
       ["How do I get from {origin} to {destination}{opt}?", "Directions from {origin} to {destination}{opt}.", "Route me from {origin} to {destination}{opt}.", "Navigate from {origin} to {destination}{opt}."]),
    fn("find_nearby_places", "maps", "Places of a kind near a location.",
       [text("location", lambda s: s.fake.street_address(), "Address to search around."), choice("category", ["cafe", "pharmacy", "atm", "gas_station", "park", "museum", "supermarket"], "Kind of place."), integer("radius_m", 100, 5000, "Search radius in metres.", " within {radius_m} metres")],
       ["Find a {category} near {location}{opt}.", "Is there a {category} close to {location}{opt}?", "Nearest {category} to {location}{opt}?", "Show {category} options around {location}{opt}."]),
    fn("geocode_address", "maps", "Coordinates of an address.",
       [text("address", lambda s: s.fake.address().replace("\n", ", "), "Full address.")],
       ["What are the coordinates of {address}?", "Geocode {address}.", "Latitude and longitude for {address}, please.", "Where exactly is {address} on the map?"]),
    fn("estimate_travel_time", "maps", "Travel time between two cities.",
       [text("origin", _city, "From."), text("destination", _city, "To."), choice("mode", ["driving", "train", "bus"], "Travel mode.")],
       ["How long does it take from {origin} to {destination} by {mode}?", "Travel time {origin} to {destination}, {mode}?", "If I go by {mode}, how long from {origin} to {destination}?", "Estimate the {mode} journey from {origin} to {destination}."]),
    # --- stocks --------------------------------------------------------------------------------
    fn("get_stock_price", "stocks", "Latest price of a stock.",
       [choice("ticker", TICKERS, "Ticker symbol."), choice("exchange", ["NASDAQ", "NYSE", "LSE", "XETRA"], "Exchange.", " on {exchange}")],
       ["What's {ticker} trading at{opt}?", "Current price of {ticker}{opt}?", "Quote me {ticker}{opt}.", "How much is one {ticker} share right now{opt}?"]),
    fn("get_stock_history", "stocks", "Price history of a stock between dates.",
       [choice("ticker", TICKERS, "Ticker symbol."), text("start_date", Sampler.date, "From, YYYY-MM-DD."), text("end_date", Sampler.date, "To, YYYY-MM-DD."), choice("interval", ["1d", "1wk", "1mo"], "Bar interval.", " at {interval} intervals")],
       ["Show {ticker} prices from {start_date} to {end_date}{opt}.", "Price history of {ticker} between {start_date} and {end_date}{opt}.", "How did {ticker} trade from {start_date} until {end_date}{opt}?", "Pull {ticker} data, {start_date} to {end_date}{opt}."]),
    fn("place_stock_order", "stocks", "Place a buy or sell order.",
       [choice("ticker", TICKERS, "Ticker symbol."), choice("side", ["buy", "sell"], "Buy or sell."), integer("quantity", 1, 500, "Number of shares."), number("limit_price", 1, 1500, "Limit price; market order when absent.", " with a limit of {limit_price}")],
       ["{side} {quantity} shares of {ticker}{opt}.", "Place an order to {side} {quantity} {ticker}{opt}.", "I want to {side} {quantity} {ticker} shares{opt}.", "Go ahead and {side} {quantity} of {ticker}{opt}."]),
    fn("get_company_financials", "stocks", "Financial statements of a listed company.",
       [choice("ticker", TICKERS, "Ticker symbol."), choice("statement", ["income", "balance_sheet", "cash_flow"], "Which statement."), integer("year", 2015, 2026, "Fiscal year.")],
       ["Show the {statement} statement of {ticker} for {year}.", "{ticker} {statement} figures for fiscal {year}?", "Get {ticker}'s {year} {statement} statement.", "What did {ticker} report in its {year} {statement} statement?"]),
    # --- math ----------------------------------------------------------------------------------
    fn("calculate_loan_payment", "math", "Monthly payment of a fixed-rate loan.",
       [number("principal", 1000, 900000, "Amount borrowed.", decimals=0), number("annual_rate", 0.5, 15, "Yearly interest rate in percent."), integer("years", 1, 40, "Term in years.")],
       ["What's the monthly payment on {principal} at {annual_rate}% over {years} years?", "Calculate a {years}-year loan of {principal} at {annual_rate} percent.", "If I borrow {principal} for {years} years at {annual_rate}%, what do I pay each month?", "Monthly instalment for {principal}, {annual_rate}% interest, {years} years?"]),
    fn("solve_quadratic", "math", "Roots of a*x^2 + b*x + c = 0.",
       [integer("a", -50, 50, "Coefficient of x^2."), integer("b", -200, 200, "Coefficient of x."), integer("c", -500, 500, "Constant term.")],
       ["Solve {a}x^2 + {b}x + {c} = 0.", "Find the roots when a={a}, b={b}, c={c}.", "What x satisfies {a}x² + {b}x + {c} = 0?", "Roots of the quadratic with coefficients {a}, {b} and {c}?"]),
    fn("compute_statistics", "math", "Summary statistics of a list of numbers.",
       [array("values", lambda s: s.rng.randint(-1000, 1000), "The numbers.", low=3, high=7, item_schema={"type": "number"}), array("measures", lambda s: s.rng.choice(["mean", "median", "stdev", "min", "max"]), "Which statistics.", " and report the {measures}", item_schema={"type": "string", "enum": ["mean", "median", "stdev", "min", "max"]})],
       ["Compute statistics for {values}{opt}.", "Summarise these numbers: {values}{opt}.", "Crunch {values} for me{opt}.", "Describe the data {values}{opt}."]),
    fn("compound_interest", "math", "Future value with compound interest.",
       [number("principal", 100, 250000, "Starting amount.", decimals=0), number("rate", 0.1, 12, "Yearly rate in percent."), integer("years", 1, 50, "Years."), integer("compounds_per_year", 1, 12, "Compounding periods per year.", ", compounded {compounds_per_year} times a year")],
       ["What will {principal} grow to at {rate}% for {years} years{opt}?", "Compound {principal} at {rate} percent over {years} years{opt}.", "Future value of {principal} after {years} years at {rate}%{opt}?", "If I invest {principal} at {rate}% for {years} years, what do I end with{opt}?"]),
    # --- unit conversion -----------------------------------------------------------------------
    fn("convert_length", "unit_conversion", "Convert a length.",
       [number("value", 0.1, 10000, "Length."), choice("from_unit", ["mm", "cm", "m", "km", "in", "ft", "mi"], "From unit."), choice("to_unit", ["mm", "cm", "m", "km", "in", "ft", "mi"], "To unit.")],
       ["Convert {value} {from_unit} to {to_unit}.", "How many {to_unit} is {value} {from_unit}?", "{value} {from_unit} in {to_unit}, please.", "Express {value} {from_unit} as {to_unit}."]),
    fn("convert_temperature", "unit_conversion", "Convert a temperature.",
       [number("value", -90, 500, "Temperature."), choice("from_scale", ["celsius", "fahrenheit", "kelvin"], "From scale."), choice("to_scale", ["celsius", "fahrenheit", "kelvin"], "To scale.")],
       ["Convert {value} degrees {from_scale} to {to_scale}.", "What is {value} {from_scale} in {to_scale}?", "{value} {from_scale} equals how many degrees {to_scale}?", "Turn {value} {from_scale} into {to_scale}."]),
    fn("convert_weight", "unit_conversion", "Convert a weight.",
       [number("value", 0.01, 5000, "Weight."), choice("from_unit", ["g", "kg", "lb", "oz", "t"], "From unit."), choice("to_unit", ["g", "kg", "lb", "oz", "t"], "To unit.")],
       ["Convert {value} {from_unit} to {to_unit}.", "How much is {value} {from_unit} in {to_unit}?", "{value} {from_unit} expressed in {to_unit}?", "What does {value} {from_unit} weigh in {to_unit}?"]),
    fn("convert_volume", "unit_conversion", "Convert a volume.",
       [number("value", 0.01, 2000, "Volume."), choice("from_unit", ["ml", "l", "cup", "gal", "floz"], "From unit."), choice("to_unit", ["ml", "l", "cup", "gal", "floz"], "To unit.")],
       ["Convert {value} {from_unit} into {to_unit}.", "How many {to_unit} in {value} {from_unit}?", "{value} {from_unit} to {to_unit}?", "Give me {value} {from_unit} in {to_unit}."]),
    # --- music ---------------------------------------------------------------------------------
    fn("play_song", "music", "Play a song.",
       [text("title", _song, "Song title."), text("artist", _person, "Artist.", " by {artist}"), flag("shuffle", "Shuffle afterwards.", " and shuffle after it")],
       ["Play '{title}'{opt}.", "Put on '{title}'{opt}.", "I want to hear '{title}'{opt}.", "Start '{title}'{opt}."]),
    fn("create_playlist", "music", "Create a playlist.",
       [text("name", lambda s: f"{s.fake.word().capitalize()} {s.rng.choice(['Mix', 'Vibes', 'Hits', 'Session', 'Beats'])}", "Playlist name."), array("songs", _song, "Song titles."), flag("public", "Visible to others.", " and make it public")],
       ["Make a playlist called '{name}' with {songs}{opt}.", "Create '{name}' containing {songs}{opt}.", "New playlist '{name}': {songs}{opt}.", "Start a playlist named '{name}' and add {songs}{opt}."]),
    fn("get_artist_info", "music", "Facts about an artist.",
       [text("artist", _person, "Artist name."), flag("include_discography", "Add the discography.", " including their discography")],
       ["Tell me about {artist}{opt}.", "Who is {artist}{opt}?", "Give me background on the musician {artist}{opt}.", "What should I know about {artist}{opt}?"]),
    fn("set_volume", "music", "Set the playback volume.",
       [integer("level", 0, 100, "Volume, 0 to 100."), choice("device", ["phone", "speaker", "headphones", "tv"], "Output device.", " on the {device}")],
       ["Set the volume to {level}{opt}.", "Volume {level}{opt}, please.", "Change the loudness to {level}{opt}.", "Turn the sound to {level} percent{opt}."]),
    # --- smart home ----------------------------------------------------------------------------
    fn("set_thermostat", "smart_home", "Set a room's target temperature.",
       [text("room", lambda s: s.rng.choice(["living room", "bedroom", "kitchen", "office", "nursery", "basement", "attic"]) + f" {s.rng.randint(1, 3)}", "Room name."), number("temperature", 10, 30, "Target in degrees Celsius.", decimals=1), choice("mode", ["heat", "cool", "auto"], "Mode.", " in {mode} mode")],
       ["Set the {room} to {temperature} degrees{opt}.", "Make the {room} {temperature}°C{opt}.", "Thermostat in the {room}: {temperature}{opt}.", "I'd like the {room} at {temperature} degrees{opt}."]),
    fn("control_lights", "smart_home", "Switch or dim the lights in a room.",
       [text("room", lambda s: s.rng.choice(["living room", "bedroom", "kitchen", "hallway", "garden", "garage"]) + f" {s.rng.randint(1, 4)}", "Room."), state("on", "On or off.", " on", " off"), integer("brightness", 1, 100, "Brightness percent.", " at {brightness}% brightness")],
       ["Turn the {room} lights{opt}.", "Switch the lights in the {room}{opt}.", "Lights in the {room}{opt}, please.", "Set the {room} lighting{opt}."]),
    fn("lock_door", "smart_home", "Lock or unlock a door.",
       [choice("door", ["front", "back", "garage", "patio", "side"], "Which door."), state("locked", "Lock (true) or unlock (false).", " locked", " unlocked"), integer("auto_relock_minutes", 1, 120, "Relock after this many minutes.", ", relocking after {auto_relock_minutes} minutes")],
       ["Set the {door} door{opt}.", "I want the {door} door{opt}.", "Make sure the {door} door is{opt}.", "Keep the {door} door{opt}."]),
    fn("schedule_robot_vacuum", "smart_home", "Schedule the robot vacuum.",
       [array("rooms", lambda s: s.rng.choice(["kitchen", "hallway", "living room", "bedroom", "bathroom", "office"]), "Rooms to clean."), text("time", _time, "Start time, HH:MM."), choice("power", ["quiet", "standard", "max"], "Suction power.", " on {power} power")],
       ["Vacuum the {rooms} at {time}{opt}.", "Schedule the robot to clean {rooms} at {time}{opt}.", "Run the vacuum in the {rooms} at {time}{opt}.", "Have the robot vacuum do the {rooms} starting {time}{opt}."]),
    # --- shopping ------------------------------------------------------------------------------
    fn("search_products", "shopping", "Search the shop's catalogue.",
       [text("query", _product, "What to look for."), number("max_price", 5, 2000, "Highest price.", " under {max_price}", decimals=0), choice("sort_by", ["price", "rating", "newest"], "Sort order.", " sorted by {sort_by}")],
       ["Search for a {query}{opt}.", "Find me a {query}{opt}.", "Show {query} options{opt}.", "I'm shopping for a {query}{opt}."]),
    fn("add_to_cart", "shopping", "Add a product to the cart.",
       [text("product_id", lambda s: s.fake.bothify("SKU-####-??").upper(), "Product id."), integer("quantity", 1, 20, "How many.")],
       ["Add {quantity} of {product_id} to my cart.", "Put {quantity} x {product_id} in the basket.", "I'll take {quantity} of item {product_id}.", "Cart: {product_id}, quantity {quantity}."]),
    fn("track_order", "shopping", "Where an order is.",
       [text("order_id", lambda s: s.fake.bothify("ORD-########"), "Order number."), flag("notify_on_delivery", "Notify on delivery.", " and tell me when it arrives")],
       ["Where is order {order_id}{opt}?", "Track {order_id}{opt}.", "Has {order_id} shipped yet{opt}?", "Status of my package {order_id}{opt}?"]),
    fn("apply_coupon", "shopping", "Apply a coupon code at checkout.",
       [text("code", lambda s: s.fake.bothify("????-##").upper(), "Coupon code."), text("cart_id", lambda s: s.fake.bothify("cart-######"), "Cart id.", " to {cart_id}")],
       ["Apply coupon {code}{opt}.", "Use the discount code {code}{opt}.", "Redeem {code} at checkout{opt}.", "Can you add promo code {code}{opt}?"]),
    # --- news ----------------------------------------------------------------------------------
    fn("get_headlines", "news", "Top headlines.",
       [choice("topic", ["business", "technology", "science", "health", "politics", "entertainment"], "Topic."), text("country", lambda s: s.fake.country(), "Country.", " in {country}"), integer("limit", 1, 30, "How many.", ", top {limit}")],
       ["What are the {topic} headlines{opt}?", "Latest {topic} news{opt}.", "Show me {topic} stories{opt}.", "Any big {topic} news today{opt}?"]),
    fn("search_news", "news", "Search news articles.",
       [text("query", lambda s: s.fake.company(), "Search words."), text("from_date", Sampler.date, "Earliest date.", " since {from_date}"), choice("language", ["en", "de", "fr", "es", "it"], "Language code.", " in {language}")],
       ["Search the news for {query}{opt}.", "Find articles about {query}{opt}.", "What's being reported about {query}{opt}?", "Any coverage of {query}{opt}?"]),
    fn("summarize_article", "news", "Summarise an article at a URL.",
       [text("url", lambda s: s.fake.url() + s.fake.slug(), "Article URL."), integer("max_sentences", 1, 10, "Length of the summary.", " in {max_sentences} sentences")],
       ["Summarise {url}{opt}.", "Give me the gist of {url}{opt}.", "TL;DR of {url}{opt}?", "Boil {url} down for me{opt}."]),
    fn("subscribe_newsletter", "news", "Subscribe an address to a newsletter.",
       [text("email", lambda s: s.fake.email(), "Subscriber address."), choice("frequency", ["daily", "weekly", "monthly"], "How often."), array("topics", lambda s: s.rng.choice(["markets", "ai", "climate", "sport", "culture", "travel"]), "Topics.", " about {topics}")],
       ["Subscribe {email} to the {frequency} newsletter{opt}.", "Sign {email} up for {frequency} updates{opt}.", "Add {email} to the {frequency} digest{opt}.", "Put {email} on the {frequency} mailing list{opt}."]),
    # --- sports (held out) ----------------------------------------------------------------------
    fn("get_match_score", "sports", "Score of a match.",
       [text("home_team", _team, "Home team."), text("away_team", _team, "Away team."), text("date", Sampler.date, "Match date.", " on {date}")],
       # every phrasing says who was at home: the order of mention alone does not
       ["What was the score when {home_team} hosted {away_team}{opt}?", "How did {home_team}'s home game against {away_team} end{opt}?", "Result of {away_team} away at {home_team}{opt}?", "Who won {home_team} (home) versus {away_team} (away){opt}?"]),
    fn("get_league_standings", "sports", "League table.",
       [choice("league", ["premier_league", "la_liga", "serie_a", "bundesliga", "nba", "nfl"], "League."), integer("season", 2000, 2026, "Season start year.")],
       ["Show the {league} table for {season}.", "{league} standings in the {season} season?", "Who topped {league} in {season}?", "League positions for {league}, {season}."]),
    fn("get_player_stats", "sports", "Statistics of a player.",
       [text("player", _person, "Player name."), integer("season", 2000, 2026, "Season.", " for the {season} season"), array("stats", lambda s: s.rng.choice(["goals", "assists", "minutes", "cards", "points"]), "Which figures.", " with {stats}")],
       ["Stats for {player}{opt}.", "How is {player} performing{opt}?", "Give me {player}'s numbers{opt}.", "What are {player}'s figures{opt}?"]),
    fn("buy_match_tickets", "sports", "Buy tickets for a match.",
       [text("home_team", _team, "Home team."), text("away_team", _team, "Away team."), integer("quantity", 1, 8, "Tickets."), choice("section", ["north", "south", "east", "west", "vip"], "Stand.", " in the {section} stand")],
       ["Buy {quantity} tickets for {home_team} at home to {away_team}{opt}.", "Get me {quantity} seats when {home_team} host {away_team}{opt}.", "I need {quantity} tickets to see {away_team} play away at {home_team}{opt}.", "Book {quantity} places for {home_team}'s home match against {away_team}{opt}."]),
    # --- recipes (held out) ---------------------------------------------------------------------
    fn("find_recipe", "recipes", "Find a recipe.",
       [text("dish", _dish, "Dish."), integer("max_minutes", 10, 180, "Longest cooking time.", " ready in {max_minutes} minutes"), choice("diet", list(DIETS), "Diet.", ", {diet}")],
       ["Find a recipe for {dish}{opt}.", "How do I make {dish}{opt}?", "I want to cook {dish}{opt}.", "Recipe for {dish}{opt}, please."]),
    fn("scale_recipe", "recipes", "Scale a recipe to a number of servings.",
       [text("recipe_name", _dish, "Recipe."), integer("servings", 1, 24, "Servings wanted.")],
       ["Scale {recipe_name} to {servings} servings.", "Adjust {recipe_name} for {servings} people.", "I'm cooking {recipe_name} for {servings}; resize it.", "Make {recipe_name} serve {servings}."]),
    fn("get_nutrition_facts", "recipes", "Nutrition of a food.",
       [text("food", lambda s: s.rng.choice(FOODS), "Food."), number("grams", 10, 1000, "Portion in grams.", decimals=0)],
       ["Nutrition facts for {grams} g of {food}?", "How many calories in {grams} grams of {food}?", "What's in {grams}g of {food}, nutritionally?", "Macros for {grams} grams of {food}."]),
    fn("create_shopping_list", "recipes", "Shopping list for recipes.",
       [array("recipes", _dish, "Recipes to shop for."), flag("group_by_aisle", "Group by aisle.", ", grouped by aisle")],
       ["Make a shopping list for {recipes}{opt}.", "What do I need to buy for {recipes}{opt}?", "Ingredients list for {recipes}{opt}.", "Build my grocery list for {recipes}{opt}."]),
)

HELD_OUT_DOMAINS: frozenset[str] = frozenset({"sports", "recipes"})
"""Whole domains never offered in training."""
HELD_OUT_FUNCTIONS: frozenset[str] = frozenset({"get_uv_index", "set_rate_alert", "get_artist_info"})
"""Single functions of otherwise seen domains, never offered in training."""
HELD_OUT_PHRASINGS_PER_FUNCTION = 1
"""The last phrasing(s) of every function: benchmark questions only."""

BY_NAME: dict[str, FunctionDef] = {f.name: f for f in LIBRARY}


def is_held_out(function: FunctionDef) -> bool:
    return function.domain in HELD_OUT_DOMAINS or function.name in HELD_OUT_FUNCTIONS


def training_phrasings(function: FunctionDef) -> range:
    return range(len(function.phrasings) - HELD_OUT_PHRASINGS_PER_FUNCTION)


def held_out_phrasings(function: FunctionDef) -> range:
    return range(len(function.phrasings) - HELD_OUT_PHRASINGS_PER_FUNCTION, len(function.phrasings))
